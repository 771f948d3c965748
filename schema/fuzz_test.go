package schema

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRule: the compiler never panics, and a compiled rule is monotone:
// true with every field present, false with none (unless it is empty).
func FuzzRule(f *testing.F) {
	for _, seed := range []string{
		"$0", "$0 && $1  ", "($0 && $1 && $2 && $3 && $4 && $5 && $6 && $7) || ($0 && $1 && $2 && $3 && $4 && $5 && $6)",
		"$1 || $10 && ($2 || $255)", "((($0)))", "$", "$0 &&", "( $01 )", "$0 | $1", "\t$0\u00a0&&\n$1", "",
	} {
		f.Add(seed)
	}
	var all, none fieldSet
	for i := range maxFields {
		all.add(i)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		r, err := compileRule(expr, identity)
		if err != nil {
			if re, ok := err.(*ruleError); !ok || re.pos < 0 || re.pos > len(expr) {
				t.Fatalf("compileRule(%q) = %v, want a *ruleError inside the text", expr, err)
			}
			return
		}
		if !r.eval(&all) {
			t.Errorf("%q is false with every field present", expr)
		}
		if r.eval(&none) != (strings.TrimSpace(expr) == "" || len(r.terms) == 1 && r.terms[0] == none) {
			t.Errorf("%q is true with no field present", expr)
		}
		r.closest(&none)
	})
}

// FuzzInlineFile: the parser never panics, and whatever it accepts decodes
// as standard base64 to the size it computed.
func FuzzInlineFile(f *testing.F) {
	for _, seed := range []string{
		"a.pdf|data:application/pdf;base64,JVBERi0xLjc=", "a|data:text/plain;charset=utf-8;base64,YQ==",
		"a|data:x/y;base64,====", "|data:;base64,", "a|data:a/b;base64,YQ", "nats-os://b/o", "n|nats-os://b/o/p",
		"a|data:a/b;base64,Y\nQ==", "a|b|data:a/b;base64,YWJj",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		lim := Limits{MaxFileBytes: 1 << 20}.withDefaults()
		c := checkFile(v, lim)
		if c.ref {
			if _, reason := parseFileRef(v); reason != "" {
				t.Fatalf("checkFile(%q) accepted a reference parseFileRef refuses: %s", v, reason)
			}
			return
		}
		file, reason := parseInlineFile(v)
		if reason != "" {
			return
		}
		data, err := base64.StdEncoding.DecodeString(file.data)
		if err != nil || int64(len(data)) != file.size || file.size == 0 {
			t.Fatalf("parseInlineFile(%q) accepted size %d; decoding gives %d bytes, %v", v, file.size, len(data), err)
		}
		if !utf8.ValidString(file.name) || strings.ContainsRune(file.name, '|') {
			t.Fatalf("parseInlineFile(%q) accepted the name %q", v, file.name)
		}
	})
}

// FuzzTaxCode: the check never panics, and what it accepts has 16
// characters and the check character the published tables give.
func FuzzTaxCode(f *testing.F) {
	for _, seed := range []string{
		"RSSMRA85T10A562S", "rssmra85t10a562s", "VRDLCU92E45H501X", "RSSMRA85T10A56NH", "RSSMRAUR T10A562S",
		"12345678903", "", "ÀÈÌÒÙ", "RSSMRA85B30A562S", "ZZZZZZVVZVVZVVVZ",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cf string) {
		for _, k := range []kind{kindPersonalTaxCode, kindTaxCode, kindVATNumber} {
			c := check(k, cf, Limits{}.withDefaults())
			if c.code != "" || k != kindPersonalTaxCode {
				continue
			}
			if len(c.value) != 16 || withCheck(c.value[:15]) != c.value {
				t.Fatalf("check(%q) accepted %q", cf, c.value)
			}
		}
		if r := RedactTaxCode(cf); utf8.RuneCountInString(strings.ReplaceAll(r, "*", "")) > 6 && !strings.Contains(cf, "*") {
			t.Fatalf("RedactTaxCode(%q) = %q keeps more than 6 characters", cf, r)
		}
	})
}

// FuzzValidate: any value in any field of the 730, and any key, is either
// accepted or reported as problems; never a panic. What is accepted and
// sent is valid UTF-8 (text without control characters but tab and line
// breaks), and problems are printable text whatever the input holds.
func FuzzValidate(f *testing.F) {
	for _, seed := range []struct {
		key, value string
	}{
		{"$0", "Mario"}, {"$3", "riga\r\nriga"}, {"$3", "a\rb"}, {"$0", "\x1b[2J"}, {"$1", "\xff\xfe"}, {"$2", "m@\xc0\xaf.it"},
		{"$4", "rssmra85t10a562s"}, {"$5", "a|data:a/b;base64,YQ=="}, {"$7", "nats-os://b/o"}, {"Nome", "\u0085"},
		{"x\xffy", "z"}, {"$6", "\u202e.pdf|data:application/pdf;base64,JVBERi0="},
	} {
		f.Add(seed.key, seed.value)
	}
	s, err := Parse(mustRead(f, "730.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		in := iseeFields()
		in[key] = value
		p, err := s.Validate(Input{Fields: in}, Limits{MaxProblems: 3})
		if err == nil {
			for k, v := range p.JSONVisura {
				if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return isControl(r) && r != '\t' && r != '\n' && r != '\r' }) {
					t.Fatalf("%s = %q sent", k, v)
				}
			}
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) == 0 || len(ve.Problems) > 4 {
			t.Fatalf("Validate = %v, want at most 3 problems and a count", err)
		}
		for _, p := range ve.Problems {
			for _, text := range []string{p.Field, p.Name, p.Message} {
				if !utf8.ValidString(text) || strings.ContainsFunc(text, isControl) {
					t.Fatalf("problem %+v is not printable text", p)
				}
			}
		}
	})
}

func mustRead(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}
