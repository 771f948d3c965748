package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/audit"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// listerFunc is a requestLister of a function.
type listerFunc func(ctx context.Context) ([]visengine.RichiestaSummary, error)

func (f listerFunc) Richieste(ctx context.Context) ([]visengine.RichiestaSummary, error) {
	return f(ctx)
}

// TestAuditRequestCreatedWhileReading: the audit reads iseed's records,
// request index and ledger, then lists the upstream. A request made for a
// submission in between (its creation in the period: a period ending
// after the audit's start, a lost answer reconciled meanwhile, the
// upstream's clock behind) is listed with none of that read. It is a
// normal request of a live submission: the audit must not report it
// unowned (exit 1 for a cron job, an operator adopting or disowning it, an
// alarm about money spent outside iseed), nor unledgered once its entry
// is there, nor owned by the index alone while its record names it. A
// request made behind iseed's back at the same moment is still unowned.
func TestAuditRequestCreatedWhileReading(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon")
	}
	const tenant = "acme"
	tests := []struct {
		name string
		// make makes the submission id's request while the audit lists
		// the upstream, and returns its id.
		make           func(t *testing.T, d *daemon, id string) string
		wantUnledgered string // the finding's record state; "" for none
	}{
		{"sent through the pipeline", submitThrough, ""},
		{"indexed and recorded, not entered yet", recordedNotEntered, record.StateSubmitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startCLIDaemon(t)
			ctx := context.Background()
			if _, errOut, code := runCLI(t, "submit", "--tenant", tenant, "--wait", eventFile(t, "inv-before", nil)); code != 0 {
				t.Fatalf("submit --wait inv-before: exit %d, %s", code, errOut)
			}
			var ours, outside string
			list := listerFunc(func(ctx context.Context) ([]visengine.RichiestaSummary, error) {
				ours = tt.make(t, d, "inv-audit-race") // iseed's books are read
				outside = createBehind(t, d)
				return d.upstream.Richieste(ctx)
			})
			now := time.Now()
			res, err := runAudit(ctx, d.js, d.res, list, d.money.account, money.Period{From: now.Add(-time.Hour), To: now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			var unowned, unledgered []string
			for _, u := range res.Unowned {
				unowned = append(unowned, u.RequestID)
			}
			for _, u := range res.Unledgered {
				unledgered = append(unledgered, u.RequestID+" "+u.State)
			}
			wantUnledgered := []string(nil)
			if tt.wantUnledgered != "" {
				wantUnledgered = []string{ours + " " + tt.wantUnledgered}
			}
			if !slices.Equal(unowned, []string{outside}) || !slices.Equal(unledgered, wantUnledgered) {
				t.Errorf("unowned %q, unledgered %q; want unowned only %s (made behind iseed's back), unledgered %q (%s, made while the audit read)",
					unowned, unledgered, outside, wantUnledgered, ours)
			}
			if c := res.Counts(); c.Missing+c.Mismatches+c.UnmatchedCharges != 0 {
				t.Errorf("findings %+v; want no missing, mismatch or unmatched charge", c)
			}
		})
	}
}

// submitThrough sends submission id of acme through the pipeline and waits
// for its ledger entry: what iseed does for every submission.
func submitThrough(t *testing.T, d *daemon, id string) string {
	t.Helper()
	ctx := context.Background()
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", eventFile(t, id, nil)); code != 0 {
		t.Fatalf("submit --wait %s: exit %d, %s", id, code, errOut)
	}
	rec, _, err := record.NewStore(d.res.Records).Get(ctx, "acme", id)
	if err != nil || rec.RequestID == "" {
		t.Fatalf("record of %s: %+v, %v; want its request", id, rec, err)
	}
	waitUntil(t, 10*time.Second, "the ledger entry of "+rec.RequestID, func() bool {
		_, err := d.res.Ledger.GetLastMsgForSubject(ctx, ledger.Subject(d.res.Layout.Prefix, "acme", rec.RequestID))
		return err == nil
	})
	return rec.RequestID
}

// recordedNotEntered makes a request and writes, as the pipeline does
// after the POST's answer, its request index entry and the record of acme's
// submission id, not its ledger entry: the pipeline between the record and
// the ledger (or stopped there, until the redelivery enters it).
func recordedNotEntered(t *testing.T, d *daemon, id string) string {
	t.Helper()
	ctx := context.Background()
	req := createBehind(t, d)
	if _, err := d.res.Requests.Create(ctx, record.IndexKey(req), []byte(record.Key("acme", id))); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec := &record.Record{Tenant: "acme", ID: id, Generation: 1, Attempts: 1, Service: "Visura catastale",
		ServiceHash: "eccbc87e4b5ce2fe28308fd9f2a7baf3", RequestID: req, Created: now}
	rec.To(record.StateSubmitted, now, "posted")
	if _, err := record.NewStore(d.res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	return req
}

// createBehind makes a request on the daemon's simulator behind iseed's
// back, as someone using the account by hand would.
func createBehind(t *testing.T, d *daemon) string {
	t.Helper()
	c, err := visengine.New(visengine.Config{BaseURL: d.sim.base, Token: d.sim.token})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "eccbc87e4b5ce2fe28308fd9f2a7baf3",
		JSONVisura: map[string]string{"$0": "1378273", "$1": "RM"}})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// TestAuditCandidateClaimedWhileReading: a submission claimed after the
// audit read the records, whose POST made a request and lost its answer
// before the upstream was listed. The request is unowned, rightly (its
// reconciliation is still to come), and that submission is its candidate:
// listed with none, it reads as made outside iseed, to be accounted for
// elsewhere (docs/money.md), while reconciliation is about to adopt it.
func TestAuditCandidateClaimedWhileReading(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon")
	}
	const tenant, id = "acme", "inv-answer-lost"
	d := startCLIDaemon(t)
	ctx := context.Background()
	var req string
	list := listerFunc(func(ctx context.Context) ([]visengine.RichiestaSummary, error) {
		// iseed's books are read: the submission is claimed, its POST
		// in doubt, and the POST makes a request.
		now := time.Now()
		rec := &record.Record{Tenant: tenant, ID: id, Generation: 1, Attempts: 1, Service: "Visura catastale",
			ServiceHash: "eccbc87e4b5ce2fe28308fd9f2a7baf3", Created: now,
			Pending: &record.Attempt{Started: now, Owner: "worker/1", Until: now.Add(time.Minute), Settle: now.Add(time.Minute)}}
		rec.To(record.StateClaimed, now, "claimed")
		if _, err := record.NewStore(d.res.Records).Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		req = createBehind(t, d)
		return d.upstream.Richieste(ctx)
	})
	now := time.Now()
	res, err := runAudit(ctx, d.js, d.res, list, nil, money.Period{From: now.Add(-time.Hour), To: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range res.Unowned {
		for _, c := range u.Candidates {
			got = append(got, u.RequestID+" "+record.Key(c.Tenant, c.SubmissionID))
		}
		if len(u.Candidates) == 0 {
			got = append(got, u.RequestID+" none")
		}
	}
	if want := []string{req + " " + record.Key(tenant, id)}; !slices.Equal(got, want) {
		t.Errorf("unowned requests and candidates %q; want %q", got, want)
	}
}

// TestAuditChargeOfRequestMadeAfterListing: the wallet is read after the
// upstream is listed. A submission sent in between has its charge in the
// wallet (in the period: a period ending after the audit's start, or the
// wallet's clock behind) and its request in neither the listing nor the
// ledger read: a normal charge of iseed's, which the next audit matches
// with its request, not an unmatched charge (exit 1, "another program, or
// a request deleted upstream"). The charge of a request made behind
// iseed's back at the same moment is still unmatched.
func TestAuditChargeOfRequestMadeAfterListing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon")
	}
	d := startCLIDaemon(t)
	ctx := context.Background()
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", eventFile(t, "inv-before", nil)); code != 0 {
		t.Fatalf("submit --wait inv-before: exit %d, %s", code, errOut)
	}
	var ours, outside string
	list := listerFunc(func(ctx context.Context) ([]visengine.RichiestaSummary, error) {
		listed, err := d.upstream.Richieste(ctx)
		ours = submitThrough(t, d, "inv-after-listing")
		outside = createBehind(t, d)
		return listed, err
	})
	now := time.Now()
	res, err := runAudit(ctx, d.js, d.res, list, d.money.account, money.Period{From: now.Add(-time.Hour), To: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range res.UnmatchedCharges {
		got = append(got, c.RequestID)
	}
	if !slices.Equal(got, []string{outside}) {
		t.Errorf("unmatched charges naming %q; want only %s's (made behind iseed's back), not %s's (iseed's, made after the listing)", got, outside, ours)
	}
	if c := res.Counts(); c != (audit.Counts{UnmatchedCharges: 1}) {
		t.Errorf("findings %+v; want the one unmatched charge", c)
	}
}
