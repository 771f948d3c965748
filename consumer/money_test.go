package consumer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// budgets returns a Budgets over the harness's buckets on a connection of
// its own (a replica's).
// oneEuroADay is a tenant cap that holds every submission: less than any
// service's price.
var oneEuroADay = budget.Caps{DailyEUR: 100}

// budgetsCapped is budgets with the test tenant's caps set to caps.
func (h *harness) budgetsCapped(caps budget.Caps) *budget.Budgets {
	h.T.Helper()
	b := h.budgets()
	if err := b.Set(context.Background(), budget.Tenant(pipetest.Tenant), caps); err != nil {
		h.T.Fatal(err)
	}
	return b
}

func (h *harness) budgets() *budget.Budgets {
	h.T.Helper()
	nc, err := nats.Connect(h.NATS.ClientURL())
	if err != nil {
		h.T.Fatal(err)
	}
	h.T.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	caps, err := js.KeyValue(ctx, h.Res.Layout.BudgetsBucket())
	if err != nil {
		h.T.Fatal(err)
	}
	usage, err := js.KeyValue(ctx, h.Res.Layout.BudgetUsageBucket())
	if err != nil {
		h.T.Fatal(err)
	}
	b, err := budget.New(caps, usage, budget.Config{Location: capsZone})
	if err != nil {
		h.T.Fatal(err)
	}
	return b
}

// capsZone separates the caps' days and months in these tests: a zone in
// which this test binary started at noon, so that no test's day or month
// ends while it runs. In Europe/Rome a daily cap of one request let a
// second through when a test straddled midnight there (23:00 UTC).
var capsZone = func() *time.Location {
	now := time.Now().UTC()
	sinceMidnight := now.Sub(now.Truncate(24 * time.Hour))
	return time.FixedZone("caps-noon", int((12*time.Hour - sinceMidnight).Seconds()))
}()

func (h *harness) ledger() *ledger.Ledger {
	return ledger.New(h.NATS.JS, h.Res.Ledger, ledger.Config{})
}

// withMoney gives a pipeline caps (b) and the ledger.
func (h *harness) withMoney(b consumer.Budget) pipetest.Option {
	return pipetest.WithDeps(func(d *consumer.Deps) { d.Budget, d.Ledger = b, h.ledger() })
}

// TestCapHoldsAcrossReplicas: three replicas, each with its own connection
// to the caps, take 500 submissions at once against a cap of 100 requests:
// exactly 100 are sent, the other 400 are held (each with a held event),
// nothing is dead-lettered, and the ledger has the 100.
func TestCapHoldsAcrossReplicas(t *testing.T) {
	// Not in parallel: heavy enough to starve the others (and be starved) on two cores.
	h := newHarness(t)
	ctx := context.Background()
	if err := h.budgets().Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 100}); err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		h.Publish(pipetest.Submission(fmt.Sprintf("cap-%d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	for range 3 {
		h.Start(h.withMoney(h.budgets()), pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 8; c.HoldPoll = time.Hour }))
	}
	states := func() map[string]int {
		out := map[string]int{}
		for i := range n {
			if r := h.Record(fmt.Sprintf("cap-%d", i)); r != nil {
				out[r.State]++
			}
		}
		return out
	}
	pipetest.WaitFor(t, 60*time.Second, "every submission sent or held", func() bool {
		s := states()
		return s[record.StateSubmitted]+s[record.StateHeld] == n
	})
	if s := states(); s[record.StateSubmitted] != 100 || s[record.StateHeld] != 400 {
		t.Errorf("states: got %v, want 100 submitted and 400 held", s)
	}
	if got := h.Counter("created"); got != 100 {
		t.Errorf("upstream requests: got %d, want exactly the cap, 100", got)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: got %d, want none", len(dls))
	}
	pipetest.WaitFor(t, 10*time.Second, "the ledger's 100 entries", func() bool {
		es, err := h.ledger().Entries(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "")
		return err == nil && len(es) == 100
	})
	if evs := h.EventTypes("cap-499"); len(evs) > 0 && evs[len(evs)-1] != "iseed.submission.held" && evs[len(evs)-1] != "iseed.submission.submitted" {
		t.Errorf("events of cap-499: %v", evs)
	}
}

// TestHeldSubmissionsGoInOrderWhenTheCapIsRaised: held submissions wait
// with their messages acknowledged and go by themselves, oldest first, as
// soon as the cap is raised; each is sent once.
func TestHeldSubmissionsGoInOrderWhenTheCapIsRaised(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	price, _ := money.FromFloat(16) // ISEE 12 + urgency 4
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: 2 * price}); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 1; c.HoldPoll = time.Hour }))
	for i := range 5 {
		h.Publish(pipetest.Submission(fmt.Sprintf("q-%d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	for i := range 2 {
		h.WaitState(fmt.Sprintf("q-%d", i), record.StateSubmitted)
	}
	for i := 2; i < 5; i++ {
		r := h.WaitState(fmt.Sprintf("q-%d", i), record.StateHeld)
		if len(r.Errors) != 1 || r.Errors[0].Code == "" {
			t.Errorf("q-%d: problems %+v, want the cap named", i, r.Errors)
		}
		if r.Attempts != 0 {
			t.Errorf("q-%d held: %d attempts, want 0: nothing was sent", i, r.Attempts)
		}
	}
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: 10 * price}); err != nil {
		t.Fatal(err)
	}
	h.waitSentInOrder("hold", "q-2", "q-3", "q-4")
	if got := h.Counter("created"); got != 5 {
		t.Errorf("upstream requests: got %d, want 5", got)
	}
}

// waitSentInOrder waits until each held submission ids names is sent
// (after its hold or pause, as after says), each once, in the order given.
func (h *harness) waitSentInOrder(after string, ids ...string) {
	h.T.Helper()
	var prev *record.Record
	for _, id := range ids {
		r := h.WaitState(id, record.StateSubmitted)
		if r.Attempts != 1 {
			h.T.Errorf("%s sent after its %s: %d attempts, want 1", id, after, r.Attempts)
		}
		if prev != nil && r.EnteredAt(record.StateSubmitted).Before(prev.EnteredAt(record.StateSubmitted)) {
			h.T.Errorf("released out of order: %s at %s before %s at %s", id, r.EnteredAt(record.StateSubmitted), prev.ID, prev.EnteredAt(record.StateSubmitted))
		}
		prev = r
	}
}

// TestLargestSubmissionIsReleasedFromItsHold: releasing a hold publishes
// the submission again with a message id of its own, which the producer's
// message may not have had room for. The largest submission the pipeline
// takes is held and then sent when the cap is raised; one the stream took
// but a release would not fit is rejected as malformed at once, saying the
// limit, instead of being held for ever ("held submission not released
// yet; retrying").
func TestLargestSubmissionIsReleasedFromItsHold(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	info, err := h.Res.Submissions.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	limit := int(info.Config.MaxMsgSize) // what the stream takes, headers included
	if limit <= 0 {
		limit = int(h.NATS.NC.MaxPayload())
	}
	sized := func(id string, size int) []byte { // a valid submission of size bytes
		fields := pipetest.ValidFields("Mario")
		fields["$6"] = "cf.pdf|data:application/pdf;base64,"
		short := size - len(pipetest.Submission(id, fields))
		fields["$6"] = fields["$6"].(string) + strings.Repeat("QUFB", short/4)
		fields["Nome"] = "Mario" + strings.Repeat(" ", short%4) // trimmed: only the size changes
		data := pipetest.Submission(id, fields)
		if len(data) != size {
			t.Fatalf("%s: %d bytes, want %d", id, len(data), size)
		}
		return data
	}
	h.Publish(sized("emp-largest", limit-layout.RepublishRoom), nil)
	h.Publish(sized("emp-too-large", limit), nil)
	h.WaitState("emp-largest", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "emp-too-large's rejected event", func() bool { return len(h.Events("emp-too-large")) == 1 })
	if ev := h.Events("emp-too-large")[0]; ev.Type != "iseed.submission.rejected" || !strings.Contains(string(ev.Data), "a submission may be at most") {
		t.Errorf("event: got %s %s, want rejected, naming the size limit", ev.Type, ev.Data)
	}
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	h.WaitState("emp-largest", record.StateSubmitted)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestPostAfterReconciliationIsCounted: a submission whose earlier POST went
// unanswered reconciles whatever the caps say (the request may exist), but
// once reconciliation shows that nothing exists, the POST it is about to
// send is a new charge: with the tenant's cap used up it is held, not sent
// uncounted.
func TestPostAfterReconciliationIsCounted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 1}); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	h.PutRecord("emp-lost", pipetest.ValidFields("Luigi"), func(r *record.Record) {
		r.Created, r.Updated = past, past
		r.Pending = &record.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second)} // nothing was created
	})
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = time.Hour }))
	h.Publish(pipetest.Submission("emp-first", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-first", record.StateSubmitted) // the day's one request
	h.Publish(pipetest.Submission("emp-lost", pipetest.ValidFields("Luigi")), nil)
	h.WaitState("emp-lost", record.StateHeld)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (a POST after reconciliation went past the cap)", got)
	}
	if got := h.Counter("GET /richiesta"); got < 1 {
		t.Errorf("GET /richiesta: got %d, want the reconciliation to have read the upstream first", got)
	}
}

// TestHeldPastMaxAgeExpires: a submission held by a cap for longer than
// ISEED_MAX_AGE is dead-lettered as expired (nothing sent).
func TestHeldPastMaxAgeExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 1}); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond; c.MaxAge = 3 * time.Second }))
	h.Publish(pipetest.Submission("emp-first", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-first", record.StateSubmitted)
	h.Publish(pipetest.Submission("emp-held", pipetest.ValidFields("Luigi")), nil)
	h.WaitState("emp-held", record.StateHeld)
	// Nothing changes the cap: past MaxAge it is released, to expire.
	if r := h.WaitState("emp-held", record.StateFailed); r.Reason != "expired" {
		t.Errorf("reason %q, want expired", r.Reason)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestNoCapReservesNothing: with caps on but none set, submissions are sent
// and entered in the ledger without any reservation (the usage stays
// empty); a cap set afterwards applies to the submissions that start once
// the pipeline's caps view has it: the first is counted, the next held.
func TestNoCapReservesNothing(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = time.Hour }))
	// Until the view has the whole caps bucket every submission reserves
	// (a cap is never bypassed); the claim is about what follows.
	pipetest.WaitFor(t, 10*time.Second, "the caps view", h.Pipeline.CapsReady)
	for i := range 3 {
		id := fmt.Sprintf("free-%d", i)
		h.Publish(pipetest.Submission(id, pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
		h.WaitState(id, record.StateSubmitted)
	}
	for _, s := range []budget.Scope{budget.Tenant(pipetest.Tenant), budget.Account()} {
		day, month, err := b.Usage(ctx, s, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if day.Requests != 0 || month.Requests != 0 || month.Held != 0 {
			t.Errorf("usage of %s without caps: got day %+v, month %+v, want nothing counted", s, day, month)
		}
	}
	pipetest.WaitFor(t, 10*time.Second, "the ledger's 3 entries", func() bool {
		es, err := h.ledger().Entries(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "")
		return err == nil && len(es) == 3
	})

	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 1}); err != nil {
		t.Fatal(err)
	}
	counted := func() int64 {
		day, _, err := b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return day.Requests
	}
	// Submissions that start before the view has the cap reserve nothing;
	// within a few the view has it.
	i := 0
	for ; counted() == 0; i++ {
		if i == 20 {
			t.Fatalf("20 submissions after the cap was set, none counted against it")
		}
		id := fmt.Sprintf("capped-%d", i)
		h.Publish(pipetest.Submission(id, pipetest.ValidFields(fmt.Sprintf("Luigi %d", i))), nil)
		h.WaitState(id, record.StateSubmitted)
	}
	id := fmt.Sprintf("capped-%d", i)
	h.Publish(pipetest.Submission(id, pipetest.ValidFields(fmt.Sprintf("Luigi %d", i))), nil)
	if r := h.WaitState(id, record.StateHeld); len(r.Errors) != 1 || r.Errors[0].Code != "tenant_day_requests" {
		t.Errorf("%s: problems %+v, want the tenant's daily request cap", id, r.Errors)
	}
	if got, want := h.Counter("created"), 3+i; got != want {
		t.Errorf("upstream requests: got %d, want %d", got, want)
	}
}

// slowReserve delays one submission's reservation, as a busy worker would.
type slowReserve struct {
	*budget.Budgets
	id    string
	delay time.Duration
}

func (s slowReserve) Reserve(ctx context.Context, tenant, id string, amount money.Cents, now time.Time) (budget.Reservation, error) {
	if id == s.id {
		time.Sleep(s.delay)
	}
	return s.Budgets.Reserve(ctx, tenant, id, amount, now)
}

// TestRaisedCapGoesToTheOldestHold: a cap raised by room for one more
// sends the oldest held submission, even when a newer one would reserve
// first. The release sent every hold the room allowed at once (the caps
// count a released submission only when it reserves), and the newer one
// took the room while the older was held again.
func TestRaisedCapGoesToTheOldestHold(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	price, _ := money.FromFloat(16) // ISEE 12 + urgency 4
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: price}); err != nil {
		t.Fatal(err)
	}
	slow := slowReserve{Budgets: b, id: "o-1", delay: 500 * time.Millisecond}
	h.Start(h.withMoney(slow), pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 4; c.HoldPoll = time.Hour }))
	for i := range 3 {
		h.Publish(pipetest.Submission(fmt.Sprintf("o-%d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
		if i == 0 {
			h.WaitState("o-0", record.StateSubmitted)
		} else {
			h.WaitState(fmt.Sprintf("o-%d", i), record.StateHeld) // o-1 is older than o-2
		}
	}
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: 2 * price}); err != nil {
		t.Fatal(err)
	}
	h.WaitState("o-1", record.StateSubmitted)
	if r := h.Record("o-2"); r.State != record.StateHeld {
		t.Errorf("o-2 (the newer hold): %s, want held: the room was o-1's", r.State)
	}
	if got := h.Counter("created"); got != 2 {
		t.Errorf("upstream requests: got %d, want 2", got)
	}
}

// TestRunHoldsStoppedAtOnceIsAStop: a daemon stopped while its holds
// watch begins (SIGTERM right after start) ends cleanly, not with a
// "holds: watch: context canceled" error that makes serve exit 1.
func TestRunHoldsStoppedAtOnceIsAStop(t *testing.T) {
	h := newHarness(t)
	h.Start(h.withMoney(h.budgets()))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.Pipeline.RunHolds(ctx); err != nil {
		t.Errorf("RunHolds stopped as it began: %v; want nil, a stop", err)
	}
}

// TestReplayedExpiredHoldCountsItsAgeFromTheReplay: a submission held past
// ISEED_MAX_AGE and dead-lettered expired is replayed while its cap is
// still spent. Held again, it must get the maximum age again from the
// replay, as every replayed message does; it was failed as expired again
// at the next hold poll, the operator's replay wasted.
func TestReplayedExpiredHoldCountsItsAgeFromTheReplay(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 1}); err != nil {
		t.Fatal(err)
	}
	const maxAge = 3 * time.Second
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 100 * time.Millisecond
		c.MaxAge = maxAge
	}))
	h.Publish(pipetest.Submission("emp-first", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-first", record.StateSubmitted)
	h.Publish(pipetest.Submission("emp-held", pipetest.ValidFields("Luigi")), nil)
	h.WaitState("emp-held", record.StateHeld)
	if r := h.WaitState("emp-held", record.StateFailed); r.Reason != dlq.ReasonExpired {
		t.Fatalf("reason %q, want expired", r.Reason)
	}
	replayHeldAgain(t, h, "emp-held")
	r := h.WaitState("emp-held", record.StateFailed)
	if r.Generation != 2 || r.Reason != dlq.ReasonExpired {
		t.Fatalf("after the replay: generation %d, reason %q; want generation 2 expired", r.Generation, r.Reason)
	}
	if held := r.EnteredAt(record.StateFailed).Sub(r.LastReplay()); held < maxAge {
		t.Errorf("the replayed submission expired %s after its replay, want at least the maximum age (%s)", held, maxAge)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestTenantDefaultCapsHoldATenantWithoutCaps: with only the default
// tenant caps set, a tenant nobody set caps for is capped all the same.
// The caps view must count them as a cap of every tenant: taken for "no
// cap applies", it would let the tenant's submissions out unreserved.
func TestTenantDefaultCapsHoldATenantWithoutCaps(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	if err := b.Set(ctx, budget.TenantDefault(), budget.Caps{DailyRequests: 1}); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = time.Hour }))
	pipetest.WaitFor(t, 10*time.Second, "the caps view", h.Pipeline.CapsReady)
	h.Publish(pipetest.Submission("first", pipetest.ValidFields("Mario Rossi")), nil)
	h.WaitState("first", record.StateSubmitted)
	h.Publish(pipetest.Submission("second", pipetest.ValidFields("Luigi Bianchi")), nil)
	if r := h.WaitState("second", record.StateHeld); len(r.Errors) != 1 || r.Errors[0].Code != "tenant_day_requests" {
		t.Errorf("second: problems %+v, want the tenant's daily request cap", r.Errors)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// replayHeldAgain replays the one dead letter there is, of held submission
// id, and waits until the replay holds it again (generation 2).
func replayHeldAgain(t *testing.T, h *harness, id string) {
	t.Helper()
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 10*time.Second, id+"'s dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	if err := h.Queue().Replay(context.Background(), dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, id+" held again by the replay", func() bool {
		r := h.Record(id)
		return r.Generation == 2 && r.State == record.StateHeld
	})
}
