package shown

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzText: what Text returns is either its input, every character of
// it shown as itself, or a Go quoted string of printable ASCII and
// printable runes that unquotes to the input, bytes that are not UTF-8
// included.
func FuzzText(f *testing.F) {
	for _, s := range []string{"ISEE", "Caffè àèìòù", "ISEE\u202e1gp.exe", "x\x1b]0;t\a", "a\nb", "\u009b2J", "\x9b2J", "RSSMRA\xff", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Text(s)
		if !utf8.ValidString(got) || strings.ContainsFunc(got, func(r rune) bool { return !strconv.IsPrint(r) && r != ' ' }) {
			t.Fatalf("Text(%q) = %q: not printable text", s, got)
		}
		if got == s {
			return
		}
		if u, err := strconv.Unquote(got); err != nil || u != s {
			t.Fatalf("Text(%q) = %s unquotes to %q, %v", s, got, u, err)
		}
	})
}

// FuzzEscaped: a JSON string (as encoding/json writes it) escaped with
// either of the predicates iseed uses (the CLI's JSON output, the
// console's pages) holds no rune the predicate hides, and decodes to the
// same text.
func FuzzEscaped(f *testing.F) {
	for _, s := range []string{"plain", "a\u202eb", "\u009b2J", "x\U000E0001y", "Caffè \x1b[2J", "\u00a0é", "\u2028\u2029", "<&>", "\ufeff\u200b\u061c"} {
		f.Add(s)
	}
	preds := map[string]func(rune) bool{
		"cli":     func(r rune) bool { return r >= utf8.RuneSelf && !strconv.IsPrint(r) },
		"console": func(r rune) bool { return r != '\n' && r != '\r' && r != '\t' && !strconv.IsPrint(r) },
	}
	f.Fuzz(func(t *testing.T, s string) {
		js, _ := json.Marshal(s)
		var want string
		_ = json.Unmarshal(js, &want) // s with what is not UTF-8 replaced
		for name, hidden := range preds {
			got := Escaped(js, hidden)
			if i := strings.IndexFunc(string(got), hidden); i >= 0 {
				t.Fatalf("%s: Escaped(%s) = %s holds a hidden rune at %d", name, js, got, i)
			}
			var back string
			if err := json.Unmarshal(got, &back); err != nil || back != want {
				t.Fatalf("%s: Escaped(%s) = %s decodes to %q, %v; want %q", name, js, got, back, err, want)
			}
		}
	})
}
