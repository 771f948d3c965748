package ledger_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/ledger"
)

// TestTableAndCSVQuoteWhatTheUpstreamNamed: a service's name comes from
// the upstream's catalog; an escape sequence or a bidi override in it
// reaches the operator's terminal (iseed spend) quoted, never raw.
func TestTableAndCSVQuoteWhatTheUpstreamNamed(t *testing.T) {
	lines := []ledger.Line{{Tenant: "acme", Service: "ISEE\u202e1gp.exe\x1b]0;pwned\a", ServiceHash: "h\u009b2J", Requests: 1, Amount: 1200}}
	for name, write := range map[string]func(*bytes.Buffer) error{
		"table": func(b *bytes.Buffer) error { return ledger.WriteTable(b, lines) },
		"csv":   func(b *bytes.Buffer) error { return ledger.WriteCSV(b, lines) },
	} {
		var b bytes.Buffer
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		for _, c := range []string{"\u202e", "\x1b", "\a", "\u009b"} {
			if i := strings.Index(b.String(), c); i >= 0 {
				t.Errorf("%s: got %q raw in %q; want it quoted", name, c, b.String())
			}
		}
		if !strings.Contains(b.String(), `ISEE\u202e1gp.exe\x1b]0;pwned\a`) {
			t.Errorf("%s: got %q; want the name shown quoted", name, b.String())
		}
	}
}
