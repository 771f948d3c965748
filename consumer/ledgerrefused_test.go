package consumer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/audit"
	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// waitEntry waits for the ledger's entry of the harness tenant's request.
func (h *harness) waitEntry(requestID string) ledger.Entry {
	h.T.Helper()
	var e ledger.Entry
	pipetest.WaitExplained(h.T, 20*time.Second, "the ledger entry of "+requestID, func() bool {
		var ok bool
		var err error
		e, ok, err = h.ledger().Entry(context.Background(), pipetest.Tenant, requestID)
		return err == nil && ok
	}, func() string { return "dead letters: " + deadLetterReasons(h.DeadLetters()) })
	return e
}

// TestLedgerEntryGetsTheServiceHashItsRecordLacks: a record with no
// service hash (written by hand, or by an iseed before one was kept) is
// posted or re-announced. The ledger refuses an entry without one: the
// announce failed on every delivery, and the paid request ran out of
// deliveries, dead-lettered, its money never entered. The hash is known
// (the request's, the submission's service): the entry gets it.
func TestLedgerEntryGetsTheServiceHashItsRecordLacks(t *testing.T) {
	t.Parallel()
	past := time.Now().Add(-time.Minute)
	tests := []struct {
		name    string
		mod     func(*record.Record)
		request func(h *harness) string // the request id the entry is for
	}{
		{"posted", func(r *record.Record) {
			r.Created, r.Updated = past, past
			r.Pending = &record.Attempt{Started: past, Owner: "stopped", Until: past.Add(time.Second), Unsent: true}
		}, func(h *harness) string { return h.WaitState("emp-nohash", record.StateSubmitted).RequestID }},
		{"re-announced", func(r *record.Record) {
			r.Created, r.Updated = past, past
			r.To(record.StateSubmitted, past, "")
			r.Attempts, r.RequestID, r.StatoRichiesta = 1, "req-old-1", visengine.StateInProgress
			r.Charge = &record.Charge{ServicePrice: 1200, Options: []record.ChargeOption{{Name: "urgenza", Price: 400}},
				Total: 1600, At: past, Source: ledger.SourcePosted}
		}, func(*harness) string { return "req-old-1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.withMaxDeliver(3)
			h.PutRecord("emp-nohash", pipetest.ValidFields("Mario"), tt.mod)
			h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Ledger = h.ledger() }))
			h.Publish(pipetest.Submission("emp-nohash", pipetest.ValidFields("Mario")), nil)
			id := tt.request(h)
			if e := h.waitEntry(id); e.ServiceHash != pipetest.ISEEHash || e.Price != 1600 {
				t.Errorf("entry: hash %q, price %s; want %s, 16.00", e.ServiceHash, e.Price, pipetest.ISEEHash)
			}
			pipetest.WaitFor(t, 10*time.Second, "the message acknowledged", h.settled)
			if r := h.Record("emp-nohash"); r.State != record.StateSubmitted || r.RequestID != id {
				t.Errorf("record: %s, request %q; want submitted, %q", r.State, r.RequestID, id)
			}
			if dls := h.DeadLetters(); len(dls) != 0 {
				t.Errorf("dead letters: %s; want none", deadLetterReasons(dls))
			}
		})
	}
}

// dottedIDs is the simulator with request ids the ledger's subjects
// cannot carry (a dot): valid upstream ids all the same, which the
// request index and the records keep.
type dottedIDs struct{ *visengine.Client }

const dotted = ".v2"

func (d dottedIDs) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	r, err := d.Client.CreateRichiesta(ctx, req)
	if r != nil && r.ID != "" {
		r.ID += dotted
	}
	return r, err
}

func (d dottedIDs) Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error) {
	r, err := d.Client.Richiesta(ctx, strings.TrimSuffix(id, dotted))
	if r != nil && r.ID != "" {
		r.ID += dotted
	}
	return r, err
}

func (d dottedIDs) Richieste(ctx context.Context) ([]visengine.RichiestaSummary, error) {
	rs, err := d.Client.Richieste(ctx)
	for i := range rs {
		rs[i].ID += dotted
	}
	return rs, err
}

// TestRefusedLedgerEntryDoesNotBlockThePaidRequest: a paid request whose
// entry the ledger refuses whatever is filled in (its id cannot be a
// subject token) was nakked on every delivery until it ran out of them:
// dead-lettered after it was paid, its reservation never committed. It is
// recorded, acknowledged and committed; an error line names it by ids
// only, and the audit reports it unledgered.
func TestRefusedLedgerEntryDoesNotBlockThePaidRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withMaxDeliver(3)
	ctx := context.Background()
	b := h.budgetsCapped(budget.Caps{DailyEUR: 100_000})
	var logs pipetest.Buffer
	h.Start(h.withMoney(b), pipetest.WithUpstream(dottedIDs{h.Client}),
		pipetest.WithConfig(func(c *consumer.Config) { c.Logger = zerolog.New(&logs) }))
	h.Publish(pipetest.Submission("emp-dotted", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-dotted", record.StateSubmitted)
	if !strings.HasSuffix(r.RequestID, dotted) {
		t.Fatalf("request %q: want the upstream's dotted id", r.RequestID)
	}
	pipetest.WaitExplained(t, 20*time.Second, "the message acknowledged", h.settled,
		func() string { return "dead letters: " + deadLetterReasons(h.DeadLetters()) })
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: %s; want none", deadLetterReasons(dls))
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
	// The reservation is committed: counted, and held no more.
	pipetest.WaitFor(t, 10*time.Second, "the reservation committed", func() bool {
		_, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-dotted", time.Now())
		return err == nil && !held
	})
	day, _, err := b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
	if price, _ := money.FromFloat(16); err != nil || day.Requests != 1 || day.Spent != price {
		t.Errorf("usage: %+v, %v; want one request of 16.00 counted", day, err)
	}
	checkRefusalLogged(t, &logs, r, "ledger")
	// The audit sees the request iseed paid for and never entered.
	listing, err := dottedIDs{h.Client}.Richieste(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.checkUnledgered(t, listing, r)
}

// checkRefusalLogged waits for the error line of the ledger's refusal of
// r's entry: it names r by its ids and says why (says), and no log line
// names the person.
func checkRefusalLogged(t *testing.T, logs *pipetest.Buffer, r *record.Record, says string) {
	t.Helper()
	pipetest.WaitFor(t, 10*time.Second, "the ledger's refusal logged", func() bool {
		return strings.Contains(logs.String(), `"request_id":"`+r.RequestID+`"`) && strings.Contains(logs.String(), `"level":"error"`)
	})
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"level":"error"`) && (!strings.Contains(line, `"submission":"`+r.ID+`"`) || !strings.Contains(line, says)) {
			t.Errorf("error line %s: want the ledger's refusal, naming the submission", line)
		}
	}
	for _, personal := range []string{"Mario", "RSSMRA85T10A562S", "mario.rossi@example.it"} {
		if strings.Contains(logs.String(), personal) {
			t.Errorf("log: %q appears", personal)
		}
	}
}

// checkUnledgered checks that the audit of the hour around now, over the
// upstream's listing, reports r's request unledgered: paid, never entered.
func (h *harness) checkUnledgered(t *testing.T, listing []visengine.RichiestaSummary, r *record.Record) {
	t.Helper()
	ctx := context.Background()
	period := money.Period{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)}
	entries, err := h.ledger().Entries(ctx, period.From.Add(-24*time.Hour), period.To.Add(24*time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	res := audit.Check(audit.Input{Period: period, Upstream: listing, Records: []*record.Record{h.Record(r.ID)},
		Index: map[string]string{r.RequestID: record.Key(pipetest.Tenant, r.ID)}, Ledger: entries})
	if len(res.Unledgered) != 1 || res.Unledgered[0].RequestID != r.RequestID || res.Clean() {
		t.Errorf("audit: unledgered %+v, clean %v; want %s", res.Unledgered, res.Clean(), r.RequestID)
	}
}

// deadLetterReasons lists dead letters by submission and reason.
func deadLetterReasons(dls []dlq.DeadLetter) string {
	var out []string
	for _, dl := range dls {
		out = append(out, dl.SubmissionID+": "+dl.Reason+": "+dl.Error)
	}
	return "[" + strings.Join(out, "; ") + "]"
}
