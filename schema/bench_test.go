package schema

import "testing"

// BenchmarkValidateISEE validates a complete ISEE submission with three
// small inline files (their base64 is scanned, not decoded) and an option.
func BenchmarkValidateISEE(b *testing.B) {
	s := loadService(b, "isee.json")
	in := Input{Fields: iseeFields(), Options: []string{"urgenza"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Validate(in, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateISEEInvalid measures the error path: five problems.
func BenchmarkValidateISEEInvalid(b *testing.B) {
	s := loadService(b, "isee.json")
	f := iseeFields()
	f["$2"], f["$4"], f["$5"], f["$9"] = "mario", "RSSMRA85T10A562T", "x", "y"
	delete(f, "$0")
	in := Input{Fields: f}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Validate(in, Limits{}); err == nil {
			b.Fatal("valid")
		}
	}
}

// BenchmarkRuleEval evaluates the ISEE rule.
func BenchmarkRuleEval(b *testing.B) {
	s := loadService(b, "isee.json")
	present := presentSet(0, 1, 2, 3, 4, 5, 6, 7)
	b.ReportAllocs()
	for b.Loop() {
		if !s.rule.eval(present) {
			b.Fatal("false")
		}
	}
}

// BenchmarkTaxCode checks one omocodic codice fiscale.
func BenchmarkTaxCode(b *testing.B) {
	cf := withCheck(omocode("RSSMRA85T10A562", 14, 15))
	b.ReportAllocs()
	for b.Loop() {
		if checkPersonalTaxCode(cf) != "" {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkParseISEE decodes and compiles the ISEE schema (once per
// schema version in production).
func BenchmarkParseISEE(b *testing.B) {
	raw := readTestdata(b, "isee.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
