package schema

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// iseeFields is a complete, valid ISEE submission with small inline files.
func iseeFields() map[string]any {
	return map[string]any{
		"$0": "Mario",
		"$1": " Rossi ",
		"$2": "mario.rossi@example.it",
		"$3": "+39 333 1234567",
		"$4": "rssmra85t10a562s",
		"$5": inline("carta-identita.pdf", "application/pdf", []byte(strings.Repeat("documento ", 10))),
		"$6": inline("tessera.jpg", "image/jpeg", []byte(strings.Repeat("tessera ", 10))),
		"$7": inline("delega.pdf", "application/pdf", []byte(strings.Repeat("delega ", 10))),
	}
}

// problems returns a validation error's problems as "field code" strings.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v, want a *ValidationError", err)
	}
	var out []string
	for _, p := range ve.Problems {
		if p.Message == "" {
			t.Errorf("problem %+v has no message", p)
		}
		out = append(out, p.Field+" "+p.Code)
	}
	return out
}

func TestValidateISEE(t *testing.T) {
	s := loadService(t, "isee.json")
	in := iseeFields()
	tests := []struct {
		name    string
		options []string
		opzioni map[string]bool
		price   float64
	}{
		{"no options", nil, nil, 12},
		{"urgenza by tipo", []string{"urgenza"}, map[string]bool{"opzione_0": true}, 16},
		{"by nome, and twice", []string{"opzione_0", " URGENZA "}, map[string]bool{"opzione_0": true}, 16},
	}
	for _, tt := range tests {
		p, err := s.Validate(Input{Fields: in, Options: tt.options}, Limits{})
		if err != nil {
			t.Fatalf("%s: Validate: %v", tt.name, err)
		}
		want := map[string]string{
			"$0": "Mario", "$1": "Rossi", "$2": "mario.rossi@example.it", "$3": "+39 333 1234567",
			"$4": "RSSMRA85T10A562S", "$5": in["$5"].(string), "$6": in["$6"].(string), "$7": in["$7"].(string),
		}
		if !maps.Equal(p.JSONVisura, want) {
			t.Errorf("%s: json_visura = %v, want %v", tt.name, p.JSONVisura, want)
		}
		if !maps.Equal(p.Opzioni, tt.opzioni) || p.Price != tt.price || p.HashVisura != s.Hash || p.FileRefs != nil {
			t.Errorf("%s: opzioni %v price %v hash %q refs %v; want %v %v %q none", tt.name, p.Opzioni, p.Price, p.HashVisura, p.FileRefs, tt.opzioni, tt.price, s.Hash)
		}
		if cf, ok := s.TaxCode(p); cf != "RSSMRA85T10A562S" || !ok {
			t.Errorf("TaxCode = %q %v, want the upper-cased code", cf, ok)
		}
	}
}

func TestValidateByName(t *testing.T) {
	s := loadService(t, "isee.json")
	in := map[string]any{
		"Nome *": "Mario", "cognome": "Rossi", "EMAIL": "m@example.it", "Telefono": "3331234567",
		"codice fiscale": "RSSMRA85T10A562S", "Copia documento d'identità": iseeFields()["$5"],
		"$6": iseeFields()["$6"], "copia delega (mandato)": nil,
	}
	p, err := s.Validate(Input{Fields: in}, Limits{})
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(p.JSONVisura) != 7 || p.JSONVisura["$4"] != "RSSMRA85T10A562S" || p.JSONVisura["$1"] != "Rossi" {
		t.Errorf("json_visura = %v, want $0…$6 keyed by $N", p.JSONVisura)
	}
	if _, ok := p.JSONVisura["$7"]; ok {
		t.Errorf("the empty optional $7 is sent")
	}
}

func TestValidateProblems(t *testing.T) {
	s := loadService(t, "isee.json")
	tests := []struct {
		name    string
		edit    func(map[string]any)
		options []string
		want    []string
	}{
		{"empty input", func(m map[string]any) { clear(m) }, nil,
			[]string{"$0 missing", "$1 missing", "$2 missing", "$3 missing", "$4 missing", "$5 missing", "$6 missing"}},
		{"every kind of problem at once", func(m map[string]any) {
			m["$0"] = 42.0
			m["$1"] = "   "
			m["$2"] = "Mario Rossi <mario@example.it>"
			m["$3"] = "333\x00"
			m["$4"] = "RSSMRA85T10A562T"
			m["$5"] = "carta.pdf"
			m["$6"] = inline("big.pdf", "application/pdf", make([]byte, 2048))
			m["$9"] = "x"
			m["Codice"] = "x"
		}, []string{"express", "urgenza"},
			[]string{"$0 invalid_type", "$1 missing", "$2 invalid_email", "$3 invalid_text", "$4 invalid_codice_fiscale",
				"$5 invalid_file", "$6 file_too_large", "$9 unknown_field", "Codice unknown_field", "opzioni unknown_option"}},
		{"a JSON null is empty", func(m map[string]any) { m["$4"] = nil }, nil, []string{"$4 missing"}},
		{"booleans, objects and arrays", func(m map[string]any) {
			m["$0"], m["$1"], m["$3"] = true, map[string]any{}, []any{"x"}
		}, nil, []string{"$0 invalid_type", "$1 invalid_type", "$3 invalid_type"}},
		{"one field by $N and by name", func(m map[string]any) { m["Codice Fiscale *"] = "RSSMRA85T10A562S" }, nil,
			[]string{"$4 ambiguous_field"}},
		{"the optional field may be empty", func(m map[string]any) { m["$7"] = "" }, nil, nil},
		{"the optional field is checked when given", func(m map[string]any) { m["$7"] = "delega.pdf" }, nil,
			[]string{"$7 invalid_file"}},
		{"an upper-case tax code with omocodia", func(m map[string]any) { m["$4"] = withCheck(omocode("RSSMRA85T10A562", 14, 15)) }, nil, nil},
	}
	for _, tt := range tests {
		in := iseeFields()
		tt.edit(in)
		_, err := s.Validate(Input{Fields: in, Options: tt.options}, Limits{MaxFileBytes: 1024})
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s: Validate: %v", tt.name, err)
			}
			continue
		}
		if got := problems(t, err); strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
			t.Errorf("%s:\ngot  %v\nwant %v", tt.name, got, tt.want)
		}
	}
}

// TestProblemsKeepValuesOut shows that messages never repeat what was typed.
func TestProblemsKeepValuesOut(t *testing.T) {
	s := loadService(t, "isee.json")
	in := iseeFields()
	in["$2"] = "mario.rossi@@secret.it"
	in["$4"] = "RSSMRA85T10A562T"
	in["$0"] = strings.Repeat("Segreto", 200)
	_, err := s.Validate(Input{Fields: in}, Limits{})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	texts := []string{err.Error()}
	for _, p := range ve.Problems {
		texts = append(texts, p.Message)
	}
	for _, text := range texts {
		for _, secret := range []string{"secret", "RSSMRA", "Segreto"} {
			if strings.Contains(text, secret) {
				t.Errorf("%q repeats the value %q", text, secret)
			}
		}
	}
}

func TestValidateRule(t *testing.T) {
	s := loadService(t, "catastale.json") // $0&&$2&&($4||$10)&&($7 && $8 || $11), only $0 and $2 required
	base := map[string]any{"$0": "Mario Rossi", "$2": "RSSMRA85T10A562S"}
	tests := []struct {
		name  string
		add   map[string]any
		want  []string
		in    string // the message names the closest alternative
		needs string
	}{
		{"closest needs one field", map[string]any{"$4": "H501"}, []string{"$11 rule_not_satisfied"}, "number 2 ($0 && $2 && $4 && $11)", "$11 (\"Firma\")"},
		{"a tie goes to the first", map[string]any{"$4": "H501", "$7": "12"}, []string{"$8 rule_not_satisfied"}, "number 1 ($0 && $2 && $4 && $7 && $8)", "$8 (\"Particella\")"},
		{"two fields needed", nil, []string{"$4 rule_not_satisfied", "$11 rule_not_satisfied"}, "number 2 ($0 && $2 && $4 && $11)", "$4 (\"Comune\"), $11"},
		{"satisfied through $10 and $11", map[string]any{"$10": "nota", "$11": "firmato"}, nil, "", ""},
		{"satisfied through $4, $7 and $8", map[string]any{"$4": "h501", "$7": "1", "$8": "2"}, nil, "", ""},
	}
	for _, tt := range tests {
		in := maps.Clone(base)
		maps.Copy(in, tt.add)
		p, err := s.Validate(Input{Fields: in}, Limits{})
		if tt.want == nil {
			if err != nil {
				t.Errorf("%s: Validate: %v", tt.name, err)
			} else if p.Price != 6.5 {
				t.Errorf("%s: price %v, want 6.5", tt.name, p.Price)
			}
			continue
		}
		if got := problems(t, err); strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		var ve *ValidationError
		errors.As(err, &ve)
		msg := ve.Problems[0].Message
		if !strings.Contains(msg, tt.in) || !strings.Contains(msg, tt.needs) {
			t.Errorf("%s: message %q, want it to name %q and %q", tt.name, msg, tt.in, tt.needs)
		}
	}
}

func TestValidateRuleNotRepeated(t *testing.T) {
	// camerale: "$0 && $1  " with both fields required: a missing field is
	// reported once, as missing, not again as rule_not_satisfied.
	s := loadService(t, "camerale.json")
	_, err := s.Validate(Input{Fields: map[string]any{"NRea": "RM-123456"}}, Limits{})
	if got := problems(t, err); strings.Join(got, ", ") != "$1 missing" {
		t.Errorf("got %v, want [$1 missing]", got)
	}
	_, err = s.Validate(Input{Fields: map[string]any{"NRea": "1", "Cciaa": "RM"}, Options: []string{"urgenza"}}, Limits{})
	if got := problems(t, err); strings.Join(got, ", ") != "opzioni unknown_option" {
		t.Errorf("got %v, want [opzioni unknown_option]", got)
	}
}

func TestValidateAmbiguous(t *testing.T) {
	s, err := Parse([]byte(`{"hash_visura":"h","json_struttura":{"campi":{
		"$0":{"nome":"Nome *","tipo":"testo","null":false},
		"$1":{"nome":"nome","tipo":"testo","null":true}},"validazione":"$0"},
		"opzioni":[{"tipo":"urgenza","nome":"opzione_0","prezzo":1},{"tipo":"urgenza","nome":"opzione_1","prezzo":2}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Validate(Input{Fields: map[string]any{"$0": "Mario", "NOME": "x"}, Options: []string{"urgenza"}}, Limits{})
	if got := strings.Join(problems(t, err), ", "); got != "NOME ambiguous_field, opzioni ambiguous_option" {
		t.Errorf("got %v, want NOME ambiguous_field, opzioni ambiguous_option", got)
	}
	p, err := s.Validate(Input{Fields: map[string]any{"$0": "Mario"}, Options: []string{"opzione_1", "OPZIONE_0"}}, Limits{})
	if err != nil || p.Price != 3 || len(p.Opzioni) != 2 {
		t.Errorf("Validate = %+v, %v; want both options and price 3", p, err)
	}
	// No prezzo_visura: the known part, and unknown.
	if q, unknown := s.Quote([]string{"opzione_1", "nope"}); q != 2 || !unknown {
		t.Errorf("Quote = %v, %v; want 2, true", q, unknown)
	}
}

func TestValidateFileRefs(t *testing.T) {
	s := loadService(t, "isee.json")
	in := iseeFields()
	in["$5"] = "nats-os://iseed_files/req-1/ci.pdf"
	in["$7"] = "delega.pdf|nats-os://iseed_files/req-1/delega"
	p, err := s.Validate(Input{Fields: in}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.FileRefs, " ") != "$5 $7" || p.JSONVisura["$5"] != in["$5"] {
		t.Errorf("FileRefs = %v, $5 = %q; want [$5 $7] and the reference kept", p.FileRefs, p.JSONVisura["$5"])
	}
}
