package audit_test

import (
	"testing"

	"github.com/iseed-dev/iseed/audit"
	"github.com/iseed-dev/iseed/record"
)

// TestKeptRequestHasItsKeeperAlone: a request whose id a submission's
// record keeps (record.Attempt.Answered: its POST got it back and the
// request index refused it) is that submission's; its next delivery adopts
// it. Unindexed, it is unowned, but listed with every ambiguous submission
// of its service as a candidate it invites 'iseed audit adopt' to another
// one: that hands it away (answeredBefore drops a kept id the index gives
// to another) and its maker is sent again, paid twice. Its one candidate
// is the submission that keeps it.
func TestKeptRequestHasItsKeeperAlone(t *testing.T) {
	in := base(t)
	in.Upstream = append(in.Upstream, upstream(req3, "ISEE", hashISEE, 12, "2026-03-07T12:00:30Z"))
	amb := &record.Record{Tenant: "acme", ID: "s3", ServiceHash: hashISEE, Created: utc("2026-03-07T12:00:00Z")}
	amb.To(record.StateFailed, utc("2026-03-07T12:05:00Z"), "ambiguous")
	amb.Reason = "ambiguous"
	keeper := &record.Record{Tenant: "beta", ID: "s4", ServiceHash: hashISEE, State: record.StateClaimed, Created: utc("2026-03-07T12:00:00Z"),
		Pending: &record.Attempt{Started: utc("2026-03-07T12:00:10Z"), Until: utc("2026-03-07T12:01:10Z"), Answered: req3}}
	in.Records = append(in.Records, amb, keeper)
	r := audit.Check(in)
	if len(r.Unowned) != 1 {
		t.Fatalf("unowned: %+v; want %s", r.Unowned, req3)
	}
	var got []string
	for _, c := range r.Unowned[0].Candidates {
		got = append(got, c.Tenant+"/"+c.SubmissionID)
	}
	if len(got) != 1 || got[0] != "beta/s4" {
		t.Errorf("candidates of %s: %v; want beta/s4 alone, which keeps it", req3, got)
	}
}
