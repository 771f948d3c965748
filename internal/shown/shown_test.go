package shown

import "testing"

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"ISEE":              "ISEE",
		"Visura evasa":      "Visura evasa",
		"Caffè àèìòù":       "Caffè àèìòù",
		"ISEE\u202e1gp.exe": `"ISEE\u202e1gp.exe"`,
		"x\x1b]0;t\a":       `"x\x1b]0;t\a"`,
		"a\tb":              `"a\tb"`,
		"a\nb":              `"a\nb"`,
		"\u009b2J":          `"\u009b2J"`,
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %s, want %s", in, got, want)
		}
	}
}
