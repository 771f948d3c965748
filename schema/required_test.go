package schema

import (
	"strings"
	"testing"
)

// The 730 publishes its mandate ($7) with "null": false, but its validazione
// accepts a request without it: the expression decides.
func TestValidate730(t *testing.T) {
	s := loadService(t, "730.json")
	if f := s.Fields[7]; f.Optional || f.Required {
		t.Fatalf("$7: Optional %v Required %v, want false false (null:false, not needed by the rule)", f.Optional, f.Required)
	}
	tests := []struct {
		name string
		edit func(map[string]any)
		want []string // nil: valid
		sent []string // the keys sent when valid
	}{
		{"without $7", func(m map[string]any) { delete(m, "$7") }, nil, []string{"$0", "$1", "$2", "$3", "$4", "$5", "$6"}},
		{"with $7", func(map[string]any) {}, nil, []string{"$0", "$1", "$2", "$3", "$4", "$5", "$6", "$7"}},
		{"blank $7", func(m map[string]any) { m["$7"] = " \t " }, nil, []string{"$0", "$1", "$2", "$3", "$4", "$5", "$6"}},
		{"JSON null $7", func(m map[string]any) { m["$7"] = nil }, nil, []string{"$0", "$1", "$2", "$3", "$4", "$5", "$6"}},
		{"without $6", func(m map[string]any) { delete(m, "$6") }, []string{"$6 missing"}, nil},
		{"without $6 and $7", func(m map[string]any) { delete(m, "$6"); delete(m, "$7") }, []string{"$6 missing"}, nil},
		{"blank $6", func(m map[string]any) { m["$6"] = "  " }, []string{"$6 missing"}, nil},
		{"$7 given but not a file", func(m map[string]any) { m["$7"] = "delega.pdf" }, []string{"$7 invalid_file"}, nil},
		{"nothing", func(m map[string]any) { clear(m) },
			[]string{"$0 missing", "$1 missing", "$2 missing", "$3 missing", "$4 missing", "$5 missing", "$6 missing"}, nil},
	}
	for _, tt := range tests {
		in := iseeFields()
		tt.edit(in)
		p, err := s.Validate(Input{Fields: in}, Limits{})
		if tt.want != nil {
			if got := problems(t, err); strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Validate: %v", tt.name, err)
			continue
		}
		if got := sentKeys(s, p); got != strings.Join(tt.sent, " ") {
			t.Errorf("%s: sent %s, want %s", tt.name, got, strings.Join(tt.sent, " "))
		}
	}
}

// sentKeys lists the keys of p's json_visura in field order.
func sentKeys(s *Service, p *Prepared) string {
	var keys []string
	for _, f := range s.Fields {
		if _, ok := p.JSONVisura[f.Key]; ok {
			keys = append(keys, f.Key)
		}
	}
	return strings.Join(keys, " ")
}

// TestRequired covers who decides that a field is required: the expression
// when there is one, null otherwise.
func TestRequired(t *testing.T) {
	campi := `"$0":{"nome":"A","null":false},"$1":{"nome":"B","null":true},"$2":{"nome":"C","null":false},"$3":{"nome":"D","null":true}`
	tests := []struct {
		name, rule string
		required   string // the required keys
		empty      []string
	}{
		// every alternative needs $0 and $1, whatever null says; $2
		// (null:false) is in no alternative: the expression accepts input without it
		{"null:true needed by every alternative", "$0 && $1 && ($3 || $0)", "$0 $1", []string{"$0 missing", "$1 missing"}},
		{"one of two", "$0 || $1", "", []string{"$0 rule_not_satisfied"}},
		{"needed by every alternative after expansion", "($0 || $1) && ($0 || $3) && $3", "$3", []string{"$0 rule_not_satisfied", "$3 missing"}},
		{"no validazione: null decides", "", "$0 $2", []string{"$0 missing", "$2 missing"}},
		{"blank validazione: null decides", `  \t`, "$0 $2", []string{"$0 missing", "$2 missing"}},
		{"null:false not mentioned", "$3", "$3", []string{"$3 missing"}},
	}
	for _, tt := range tests {
		s, err := Parse([]byte(`{"hash_visura":"h","json_struttura":{"campi":{` + campi + `},"validazione":"` + tt.rule + `"}}`))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var req []string
		for _, f := range s.Fields {
			if f.Required {
				req = append(req, f.Key)
			}
		}
		if got := strings.Join(req, " "); got != tt.required {
			t.Errorf("%s: required %q, want %q", tt.name, got, tt.required)
		}
		_, err = s.Validate(Input{Fields: map[string]any{"$0": " ", "$1": nil}}, Limits{})
		if got := problems(t, err); strings.Join(got, ", ") != strings.Join(tt.empty, ", ") {
			t.Errorf("%s: empty input: got %v, want %v", tt.name, got, tt.empty)
		}
	}
}
