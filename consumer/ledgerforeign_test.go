package consumer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// foreignOnLedger is the simulator with a message that is not an entry put
// on the ledger subject of each request it hands out, before the pipeline
// can enter it: what any client that may publish in the account can do
// through a reply subject (docs/security.md).
type foreignOnLedger struct {
	*visengine.Client
	t      *testing.T
	js     jetstream.JetStream
	prefix string
}

func (f foreignOnLedger) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	r, err := f.Client.CreateRichiesta(ctx, req)
	if r != nil && r.ID != "" {
		subject := ledger.Subject(f.prefix, pipetest.Tenant, r.ID)
		if _, perr := f.js.Publish(ctx, subject, []byte(`{"stream":"ISEED_SUBMISSIONS","seq":7}`)); perr != nil {
			f.t.Errorf("the foreign message on %s: %v", subject, perr)
		}
	}
	return r, err
}

// TestForeignMessageOnTheLedgerSubjectDoesNotBlockThePaidRequest: the
// ledger subject of a paid request holds a message the ledger did not
// write, which the stream keeps (DenyDelete) and which takes the one place
// of that subject. Record failed on every delivery alike, and the paid
// submission was nakked until it ran out of deliveries: dead-lettered,
// never tracked. It is recorded, acknowledged, tracked and committed; an
// error line names it by ids only, and the audit reports it unledgered.
func TestForeignMessageOnTheLedgerSubjectDoesNotBlockThePaidRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withMaxDeliver(3)
	ctx := context.Background()
	b := h.budgetsCapped(budget.Caps{DailyEUR: 100_000})
	tr, err := tracking.New(tracking.Config{Logger: zerolog.Nop()}, tracking.Deps{Resources: h.Res, Upstream: h.Client,
		Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS})
	if err != nil {
		t.Fatal(err)
	}
	var logs pipetest.Buffer
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Budget, d.Ledger, d.Tracker = b, h.ledger(), tr }),
		pipetest.WithUpstream(foreignOnLedger{Client: h.Client, t: t, js: h.NATS.JS, prefix: h.Res.Layout.Prefix}),
		pipetest.WithConfig(func(c *consumer.Config) { c.Logger = zerolog.New(&logs) }))
	h.Publish(pipetest.Submission("emp-foreign", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-foreign", record.StateSubmitted)
	pipetest.WaitExplained(t, 20*time.Second, "the message acknowledged", h.settled,
		func() string {
			return "dead letters: " + deadLetterReasons(h.DeadLetters()) + "; log:\n" + logs.String()
		})
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: %s; want none", deadLetterReasons(dls))
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
	// Tracked: its task is on the track stream.
	pipetest.WaitFor(t, 10*time.Second, "the tracking task", func() bool {
		m, err := h.Res.Track.GetLastMsgForSubject(ctx, h.Res.Layout.TrackSubject(pipetest.Tenant, "emp-foreign"))
		return err == nil && strings.Contains(string(m.Data), `"request_id":"`+r.RequestID+`"`)
	})
	// The reservation is committed.
	pipetest.WaitFor(t, 10*time.Second, "the reservation committed", func() bool {
		_, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-foreign", time.Now())
		return err == nil && !held
	})
	checkRefusalLogged(t, &logs, r, "not its entry")
	// The foreign message is no entry, and the audit says the request has
	// none: unledgered, not matched.
	if e, ok, err := h.ledger().Entry(ctx, pipetest.Tenant, r.RequestID); err != nil || ok {
		t.Errorf("ledger entry: %+v, %v, %v; want none", e, ok, err)
	}
	listing, err := h.Client.Richieste(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h.checkUnledgered(t, listing, r)
}
