package audit_test

import (
	"testing"

	"github.com/iseed-dev/iseed/audit"
)

// TestRequestListedTwiceIsOneFinding: GET /richiesta may show one request
// more than once (a list made by a join, a page repeated:
// docs/visengine.md), as reconciliation already allows for. The audit
// must count it once: an unowned request listed twice was two findings of
// its price (the daemon's gauge 2, an operator looking for two lost
// POSTs), an unledgered one two lines, and the period's upstream
// requests one too many.
func TestRequestListedTwiceIsOneFinding(t *testing.T) {
	in := base(t)
	in.Ledger = in.Ledger[:1]    // req2 is beta's, entered nowhere,
	in.Records[1].RequestID = "" // owned by the request index alone
	in.Upstream = append(in.Upstream, upstream(req3, "ISEE", hashISEE, 12, "2026-03-07T12:00:30Z"))
	in.Upstream = append(in.Upstream, in.Upstream...)
	in.Transactions = nil
	r := audit.Check(in)
	if got, want := r.Counts(), (audit.Counts{Unowned: 1, Unledgered: 1}); got != want {
		t.Errorf("findings %+v; want %+v: req3 unowned, req2 unledgered, each once", got, want)
	}
	if got := r.Checked.Upstream; got != 3 {
		t.Errorf("upstream requests checked: got %d, want 3", got)
	}
}
