package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestLimitsDefaults(t *testing.T) {
	got := Limits{MaxTextLen: 5, MaxOptions: -1}.withDefaults()
	want := Limits{MaxFileBytes: 10 << 20, MaxTotalFileBytes: 32 << 20, MaxTextLen: 5, MaxOptions: 16, MaxProblems: 100}
	if got != want {
		t.Errorf("withDefaults = %+v, want %+v", got, want)
	}
}

func TestMaxProblems(t *testing.T) {
	s := loadService(t, "isee.json")
	tests := []struct {
		name    string
		unknown int // unknown keys besides the 7 missing fields
		limit   int
		listed  int    // problems before the last
		last    string // the last problem's code
		more    string // its message names how many more
	}{
		{"within the default", 93, 0, 100, CodeUnknownField, ""},
		{"past the default", 150, 0, 100, CodeTooManyProblems, "57 more problems are not listed: at most 100"},
		{"past a set limit", 0, 3, 3, CodeTooManyProblems, "4 more problems are not listed: at most 3"},
		{"exactly a set limit", 0, 7, 6, CodeMissing, ""},
	}
	for _, tt := range tests {
		in := map[string]any{}
		for i := range tt.unknown {
			in[fmt.Sprintf("extra %03d", i)] = "x"
		}
		_, err := s.Validate(Input{Fields: in}, Limits{MaxProblems: tt.limit})
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%s: Validate = %v, want a *ValidationError", tt.name, err)
		}
		probs := ve.Problems
		if tt.more != "" && len(probs) != tt.listed+1 {
			t.Fatalf("%s: %d problems, want %d and one saying how many more", tt.name, len(probs), tt.listed)
		}
		last := probs[len(probs)-1]
		if last.Code != tt.last || !strings.Contains(last.Message, tt.more) {
			t.Errorf("%s: last problem %+v, want code %s naming %q", tt.name, last, tt.last, tt.more)
		}
		// The listed ones are the first in order: fields first, then keys by name.
		if probs[0].Field != "$0" || probs[0].Code != CodeMissing {
			t.Errorf("%s: first problem %+v, want $0 missing", tt.name, probs[0])
		}
		if tt.unknown > 0 && probs[7].Field != "extra 000" {
			t.Errorf("%s: eighth problem %+v, want the first unknown key in order", tt.name, probs[7])
		}
		for _, p := range probs {
			if p.Message == "" {
				t.Errorf("%s: %+v has no message", tt.name, p)
			}
		}
	}
}

func TestMaxProblemBytes(t *testing.T) {
	s := loadService(t, "isee.json")
	in := map[string]any{}
	for i := range 150 {
		in[fmt.Sprintf("%03d%s", i, strings.Repeat("<", 70))] = "x" // 64 bytes kept, six each as JSON
	}
	for _, budget := range []int{1, 2 << 10, 16 << 10, 64 << 10} {
		_, err := s.Validate(Input{Fields: in}, Limits{MaxProblemBytes: budget})
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("%d bytes: Validate = %v, want a *ValidationError", budget, err)
		}
		b, _ := json.Marshal(ve.Problems)
		last := ve.Problems[len(ve.Problems)-1]
		more := fmt.Sprintf("%d more problems are not listed", 157-(len(ve.Problems)-1))
		switch {
		case budget > 1 && len(b) > budget:
			t.Errorf("%d bytes: got %d bytes of problems, want at most %d", budget, len(b), budget)
		case last.Code != CodeTooManyProblems || !strings.Contains(last.Message, more):
			t.Errorf("%d bytes: last problem %+v, want too_many_problems saying %q", budget, last, more)
		}
	}
}

func TestMaxOptions(t *testing.T) {
	s := loadService(t, "isee.json")
	tests := []struct {
		name  string
		n     int
		limit int
		want  string // "" for valid
	}{
		{"the default, repeats allowed", 16, 0, ""},
		{"past the default", 17, 0, "17 options are named; at most 16"},
		{"past a set limit", 2, 1, "2 options are named; at most 1"},
	}
	for _, tt := range tests {
		opts := make([]string, tt.n)
		for i := range opts {
			opts[i] = "urgenza"
		}
		p, err := s.Validate(Input{Fields: iseeFields(), Options: opts}, Limits{MaxOptions: tt.limit})
		if tt.want == "" {
			if err != nil || p.Price != 16 {
				t.Errorf("%s: %v, price %v; want valid at 16", tt.name, err, priceOf(p))
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Code != CodeTooManyOptions || ve.Problems[0].Field != "opzioni" ||
			!strings.Contains(ve.Problems[0].Message, tt.want) {
			t.Errorf("%s: %v, want one too_many_options problem naming %q", tt.name, err, tt.want)
		}
	}
}

func priceOf(p *Prepared) any {
	if p == nil {
		return nil
	}
	return p.Price
}

func TestMaxTotalFileBytes(t *testing.T) {
	s := loadService(t, "isee.json")
	file := func(n int) string { return inline("f.pdf", "application/pdf", make([]byte, n)) }
	tests := []struct {
		name  string
		sizes [3]int // $5, $6, $7
		total int64
		want  []string
	}{
		{"exactly the total", [3]int{40, 40, 20}, 100, nil},
		{"the third file crosses", [3]int{40, 40, 21}, 100, []string{"$7 files_too_large"}},
		{"the second crosses, the third is not reported again", [3]int{60, 60, 60}, 100, []string{"$6 files_too_large"}},
		{"one file alone over the total", [3]int{101, 1, 1}, 100, []string{"$5 files_too_large"}},
	}
	for _, tt := range tests {
		in := iseeFields()
		in["$5"], in["$6"], in["$7"] = file(tt.sizes[0]), file(tt.sizes[1]), file(tt.sizes[2])
		p, err := s.Validate(Input{Fields: in}, Limits{MaxFileBytes: 1000, MaxTotalFileBytes: tt.total})
		if tt.want == nil {
			if err != nil || p.fileBytes != tt.total {
				t.Errorf("%s: %v, inline bytes %d; want valid with %d", tt.name, err, p.fileBytes, tt.total)
			}
			continue
		}
		if got := problems(t, err); strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
		var ve *ValidationError
		errors.As(err, &ve)
		if msg := ve.Problems[0].Message; !strings.Contains(msg, "at most 100 bytes of files") {
			t.Errorf("%s: message %q does not name the limit", tt.name, msg)
		}
	}
}

// TestHostileText: control characters and invalid UTF-8 are problems,
// never crashes, and the messages never repeat them.
func TestHostileText(t *testing.T) {
	bad := CodeInvalidText
	runChecks(t, kindText, Limits{}.withDefaults(), []checkCase{
		{in: "riga uno\nriga due\tcon tab"},
		{in: "riga uno\r\nriga due"},
		{in: "zero\u200dwidth joiner, \u202eright-to-left"},
		{in: "emoji 👩‍👩‍👧"},
		{in: "a\rb", code: bad},
		{in: "a\r", code: bad},
		{in: "nul\x00", code: bad},
		{in: "esc\x1b[31m", code: bad},
		{in: "del\x7f", code: bad},
		{in: "nel\u0085", code: bad},
		{in: "csi\u009b", code: bad},
		{in: "bad\xff", code: bad},
		{in: "truncated \xe2\x82", code: bad},
		{in: "overlong \xc0\xaf", code: bad},
		{in: "surrogate \xed\xa0\x80", code: bad},
	})
	s := loadService(t, "isee.json")
	in := iseeFields()
	in["$0"] = "Mario\x1bSEGRETO"
	in["$2"] = "mario@\xffsegreto.it"
	in["$4"] = "RSSMRA85T10A562\xff"
	in["$5"] = "SEGRETO\x85.pdf|data:application/pdf;base64,JVBERi0="
	in["$6"] = "a.pdf|data:application/" + strings.Repeat("x", 300) + ";base64,JVBERi0="
	in["chiave\xffSEGRETA"] = "x"
	_, err := s.Validate(Input{Fields: in}, Limits{})
	want := "$0 invalid_text, $2 invalid_email, $4 invalid_codice_fiscale, $5 invalid_file, $6 invalid_file, chiave\uFFFDSEGRETA unknown_field"
	if got := strings.Join(problems(t, err), ", "); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	var ve *ValidationError
	errors.As(err, &ve)
	for _, p := range ve.Problems {
		if p.Code != CodeUnknownField && strings.Contains(strings.ToUpper(p.Message), "SEGRETO") {
			t.Errorf("%q repeats the value", p.Message)
		}
	}
}
