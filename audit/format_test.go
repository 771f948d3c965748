package audit_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/audit"
	"github.com/iseed-dev/iseed/record"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// dirty has one finding of each kind.
func dirty(t *testing.T) audit.Input {
	in := base(t)
	in.Upstream = append(in.Upstream, upstream(req3, "ISEE", hashISEE, 12, "2026-03-07T12:00:30Z"))
	amb := &record.Record{Tenant: "acme", ID: "s3", ServiceHash: hashISEE, Created: utc("2026-03-07T12:00:00Z"), Reason: "ambiguous"}
	amb.To(record.StateFailed, utc("2026-03-07T12:05:00Z"), "ambiguous")
	in.Records = append(in.Records, amb, priced(submitted("acme", "s9", "ISEE", hashISEE, req9, "2026-03-09T10:00:00Z"), 16))
	in.Upstream[0].PrezzoVisura = 13
	in.Ledger = in.Ledger[:1]
	in.Transactions = append(in.Transactions, charge("t7", -1600, "2026-03-10T10:00:00Z", "API usage - visengine2.altravia.com 5f2829ce065afc21cc6000ff"))
	return in
}

func TestFormats(t *testing.T) {
	tests := []struct {
		file  string
		in    func(*testing.T) audit.Input
		write func(*bytes.Buffer, *audit.Result) error
	}{
		{"dirty.txt", dirty, func(b *bytes.Buffer, r *audit.Result) error { return audit.WriteTable(b, r) }},
		{"dirty.json", dirty, func(b *bytes.Buffer, r *audit.Result) error { return audit.WriteJSON(b, r) }},
		{"clean.txt", base, func(b *bytes.Buffer, r *audit.Result) error { return audit.WriteTable(b, r) }},
		{"clean.json", base, func(b *bytes.Buffer, r *audit.Result) error { return audit.WriteJSON(b, r) }},
	}
	for _, tt := range tests {
		r := audit.Check(tt.in(t))
		r.Period.From, r.Period.To = r.Period.From.In(time.UTC), r.Period.To.In(time.UTC) // goldens independent of zone names
		var buf bytes.Buffer
		if err := tt.write(&buf, r); err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		path := filepath.Join("testdata", tt.file)
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to create it)", tt.file, err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s: got\n%s\nwant\n%s", tt.file, buf.Bytes(), want)
		}
	}
}

func priced(r *record.Record, euro float64) *record.Record {
	r.Price = &euro
	return r
}

// TestTableQuotesWhatTheUpstreamSent: the table shows the upstream's
// request ids and service names quoted when they hold a character a
// terminal acts on (an escape sequence that sets the window title or
// clears the screen), not as they are; a state the API does not publish
// not at all (TestUnpublishedStateNotShown).
func TestTableQuotesWhatTheUpstreamSent(t *testing.T) {
	in := base(t)
	u := upstream("5f2829ce065afc21cc60aaaa\x1b[2J", "ISEE\u009b2J", hashISEE, 12, "2026-03-07T12:00:30Z")
	u.StatoRichiesta = "In verifica\x1b]0;iseed pwned\x07"
	in.Upstream = append(in.Upstream, u)
	r := audit.Check(in)
	if len(r.Unowned) != 1 {
		t.Fatalf("got %d unowned requests, want 1", len(r.Unowned))
	}
	var buf bytes.Buffer
	if err := audit.WriteTable(&buf, r); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if i := strings.IndexAny(out, "\x1b\x07\u009b"); i >= 0 {
		t.Errorf("WriteTable: got a control character raw, in %q; want it escaped", out[max(0, i-30):min(len(out), i+30)])
	}
	if !strings.Contains(out, `"5f2829ce065afc21cc60aaaa\x1b[2J"`) || strings.Contains(out, "In verifica") {
		t.Errorf("WriteTable: got\n%s\nwant the request id quoted, the state left out", out)
	}
}

// TestUnpublishedStateNotShown: an unowned request in a state the API
// does not publish, the upstream's free text naming the person, is listed
// with its state as ‹unpublished›, in the table and in JSON: the audit's
// output goes to terminals, files and tickets, where personal data must
// not. A published state is shown as it is.
func TestUnpublishedStateNotShown(t *testing.T) {
	in := base(t)
	u := upstream("5f2829ce065afc21cc60bbbb", "ISEE", hashISEE, 12, "2026-03-07T12:00:30Z")
	u.StatoRichiesta = "Sospesa: documento di ROSSI MARIO RSSMRA80A01H501U scaduto"
	p := upstream("5f2829ce065afc21cc60cccc", "ISEE", hashISEE, 12, "2026-03-07T12:00:40Z")
	p.StatoRichiesta = "In erogazione"
	in.Upstream = append(in.Upstream, u, p)
	r := audit.Check(in)
	if len(r.Unowned) != 2 {
		t.Fatalf("got %d unowned requests, want 2", len(r.Unowned))
	}
	for name, write := range map[string]func(*bytes.Buffer, *audit.Result) error{
		"table": func(b *bytes.Buffer, r *audit.Result) error { return audit.WriteTable(b, r) },
		"json":  func(b *bytes.Buffer, r *audit.Result) error { return audit.WriteJSON(b, r) },
	} {
		var buf bytes.Buffer
		if err := write(&buf, r); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if strings.Contains(out, "ROSSI") || strings.Contains(out, "RSSMRA") || !strings.Contains(out, "‹unpublished›") || !strings.Contains(out, "In erogazione") {
			t.Errorf("%s: got\n%s\nwant the unpublished state as ‹unpublished›, the published one as it is", name, out)
		}
	}
	if r.Unowned[0].StatoRichiesta == "‹unpublished›" || r.Unowned[1].StatoRichiesta == "‹unpublished›" {
		t.Error("WriteJSON changed the result it was given")
	}
}
