package doccheck

import (
	"regexp"
	"strings"
	"testing"
)

// TestOperationsDocNamesEveryRefusal: the err_code table of
// docs/operations.md ("serve refuses: JetStream refuses the layout") names
// every code layout takes for a refusal that waiting does not remove
// (layout/refused.go), and no other: an operator whose serve exits 2 looks
// its code up there.
func TestOperationsDocNamesEveryRefusal(t *testing.T) {
	code := read(t, "layout/refused.go")
	want := map[string]bool{}
	for _, m := range regexp.MustCompile(`jetstream\.ErrorCode = (\d+)`).FindAllStringSubmatch(code, -1) {
		want[m[1]] = true
	}
	if len(want) < 5 {
		t.Fatalf("found %d codes in layout/refused.go: the parser missed them", len(want))
	}
	text := read(t, "docs/operations.md")
	start := strings.Index(text, "| err_code | the server says | change |")
	if start < 0 {
		t.Fatal(`docs/operations.md has no "| err_code | the server says | change |" table`)
	}
	table := text[start:]
	if end := strings.Index(table, "\n\n"); end >= 0 {
		table = table[:end]
	}
	got := map[string]bool{}
	for _, line := range strings.Split(table, "\n")[2:] {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, c := range regexp.MustCompile(`\d+`).FindAllString(cells[1], -1) {
			got[c] = true
			if !want[c] {
				t.Errorf("docs/operations.md: err_code %s is not one layout takes for a refusal (layout/refused.go)", c)
			}
		}
	}
	for c := range want {
		if !got[c] {
			t.Errorf("docs/operations.md: no row for err_code %s, which layout takes for a refusal (layout/refused.go)", c)
		}
	}
}
