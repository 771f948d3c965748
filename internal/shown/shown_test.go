package shown

import (
	"encoding/json"
	"strconv"
	"testing"
)

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

func TestEscaped(t *testing.T) {
	notPrint := func(r rune) bool { return r != '\n' && !strconv.IsPrint(r) }
	for in, want := range map[string]string{
		"plain\ntext":       "plain\ntext",
		"a\u202eb":          `a\u202eb`,
		"\u009b2J":          `\u009b2J`,
		"x\U000E0001y":      `x\udb40\udc01y`, // a tag character, above U+FFFF
		"Caffè \x1b[2J":     `Caffè \u001b[2J`,
		"\u00a0 nbsp, é ok": `\u00a0 nbsp, é ok`,
	} {
		if got := string(Escaped([]byte(in), notPrint)); got != want {
			t.Errorf("Escaped(%q) = %s, want %s", in, got, want)
		}
	}
	// Inside a JSON string the escapes decode to the same text.
	js := []byte(`{"k":"a` + "\u202e\U000E0001" + `b"}`)
	var a, b map[string]string
	if json.Unmarshal(js, &a) != nil || json.Unmarshal(Escaped(js, notPrint), &b) != nil || a["k"] != b["k"] {
		t.Errorf("Escaped changed what the JSON decodes to: %q, %q", a["k"], b["k"])
	}
}
