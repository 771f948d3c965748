package consumer_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"golang.org/x/time/rate"
)

// TestFairShareOfTheBudget: with the upstream budget keeping POSTs waiting
// (10 a second) and no cap set, a tenant publishes a batch of 40 and
// another tenant two submissions after it. The batch takes only its share
// of the workers' waits; the rest of it steps aside (held, code fair_share
// or queued behind it), so the other tenant's two are sent after a few of
// the batch instead of after all of it (without shares: after at least 30),
// and no more of the batch wait for the budget at once than its share (and
// one release). Then every submission of the batch is sent, once each, the held ones
// oldest hold first (within the share's window).
func TestFairShareOfTheBudget(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	h.Start(h.withMoney(h.budgets()),
		pipetest.WithDeps(func(d *consumer.Deps) {
			d.Budget, d.Ledger, d.Limiter = h.budgets(), h.ledger(), rate.NewLimiter(10, 1)
		}),
		pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 8; c.HoldPoll = time.Hour }))
	// Until the caps view has the bucket, every tenant counts as capped and
	// its holds go out one at a time (holds.go): the share is wider only
	// once the view knows no cap applies.
	pipetest.WaitFor(t, 10*time.Second, "the caps view", h.Pipeline.CapsReady)
	const n = 40
	var ids []string
	for i := range n {
		ids = append(ids, fmt.Sprintf("b-%02d", i))
		h.Publish(pipetest.Submission(ids[i], pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	other := func(id string) []byte { return pipetest.Submission(id, pipetest.ValidFields("Luigi Verdi")) }
	for _, id := range []string{"g-1", "g-2"} {
		h.publishAs("globex", other(id), msgIDOf("globex", other(id)))
	}
	store := record.NewStore(h.Res.Records)
	for _, id := range []string{"g-1", "g-2"} {
		pipetest.WaitFor(t, 20*time.Second, "globex's "+id+" to be sent", func() bool {
			r, _, _ := store.Get(ctx, "globex", id)
			return r != nil && r.State == record.StateSubmitted
		})
	}
	sent := 0
	for _, id := range ids {
		if r := h.Record(id); r.State == record.StateSubmitted || r.State == record.StateCompleted {
			sent++
		}
	}
	t.Logf("%d of the batch sent before the other tenant's two", sent)
	// Until a wait shows the budget congested every worker waits, one
	// token each: 9 to 13 of the batch go first in runs on two cores.
	if sent > n/2 {
		t.Errorf("%d of the batch's %d were sent before the other tenant's two; want at most %d (not the whole batch)", sent, n, n/2)
	}

	// The batch's waits while its held ones are released, sampled: its
	// share of 8 workers is 4, one more for a release picked up before it
	// counts; released without regard to it, the batch took every worker.
	// (As the batch arrives, workers that find room at once may all wait:
	// the room is read before the wait.)
	var most atomic.Int64
	sampling, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampling.Err() == nil {
			if w := int64(h.Pipeline.WaitingForTokens(pipetest.Tenant)); w > most.Load() {
				most.Store(w)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var held []string
	fair := false
	for _, id := range ids {
		r := h.WaitState(id, record.StateSubmitted)
		if r.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1", id, r.Attempts)
		}
		if r.EnteredAt(record.StateHeld).IsZero() {
			continue
		}
		held = append(held, id)
		for _, e := range h.Events(id) {
			if e.Type == "iseed.submission.held" && bytes.Contains(e.Data, []byte(`"code":"fair_share"`)) {
				fair = true
			}
		}
	}
	if len(held) < n/2 || !fair {
		t.Errorf("%d of the batch held, a fair_share code seen: %v; want most of it held and the code told", len(held), fair)
	}
	// Released one at a time, oldest hold first (held by several workers
	// at once, not quite in the order published), each picked up before
	// the next; but the tenant's share waits at once, and a later one may
	// reach the limiter first: in order within the share's window.
	slices.SortFunc(held, func(a, b string) int { return h.Record(a).HeldSince.Compare(h.Record(b).HeldSince) })
	const window = 6
	for i := window; i < len(held); i++ {
		if a, b := h.Record(held[i-window]).EnteredAt(record.StateSubmitted), h.Record(held[i]).EnteredAt(record.StateSubmitted); b.Before(a) {
			t.Errorf("%s sent at %s, before %s at %s: held ones go oldest first", held[i], b, held[i-window], a)

		}
	}
	if got := h.Counter("created"); got != n+2 {
		t.Errorf("upstream requests: %d, want %d", got, n+2)
	}
	stopSampling()
	<-sampled
	t.Logf("at most %d of the batch waiting at once", most.Load())
	if got := most.Load(); got > 5 {
		t.Errorf("the batch's submissions waiting for the budget at once: at most %d, want 2 to 5 (its share, and one release)", got)
	}
	// At least two wait at once only when the releases keep up with the
	// budget: on a machine too loaded to pick a release up within a token's
	// 100 ms, each gets its token before the next arrives (seen once in CI,
	// under the race detector beside four other test processes: at most one
	// waited, and the test took twice its usual time). Released one at a
	// time on a machine that keeps up, they are still sent at its pace, and
	// fail here (checked: holds.go's width held at 1, 9.8 a second).
	if len(held) < 2 {
		return // failed above: most of the batch is held
	}
	var sentAt []time.Time
	for _, id := range held {
		sentAt = append(sentAt, h.Record(id).EnteredAt(record.StateSubmitted))
	}
	first, last := slices.MinFunc(sentAt, time.Time.Compare), slices.MaxFunc(sentAt, time.Time.Compare)
	pace := float64(len(held)-1) / last.Sub(first).Seconds()
	t.Logf("the %d held ones sent at %.1f a second", len(held), pace)
	if got := most.Load(); got < 2 && pace >= 8 {
		t.Errorf("the batch's submissions waiting for the budget at once: at most %d, want 2 to 5 (its share, and one release)", got)
	}
}

// TestNoFairShareHoldsWhileTheBudgetHasTokens: with a budget that keeps
// no POST waiting (1,000 calls a second), two workers and a cap (so that
// reserving takes a few round trips), one tenant's 40 submissions are sent
// without a hold. A submission once counted as waiting from its share's
// check on: the second worker's found the first's there, reserving, and
// was held though nothing waited for a token.
func TestNoFairShareHoldsWhileTheBudgetHasTokens(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.budgetsCapped(budget.Caps{DailyRequests: 1000})
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) {
		d.Budget, d.Ledger, d.Limiter = b, h.ledger(), rate.NewLimiter(1000, 10)
	}), pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 2; c.HoldPoll = time.Hour }))
	pipetest.WaitFor(t, 10*time.Second, "the caps view", h.Pipeline.CapsReady)
	const n = 40
	for i := range n {
		h.Publish(pipetest.Submission(fmt.Sprintf("t-%02d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	for i := range n {
		if r := h.WaitState(fmt.Sprintf("t-%02d", i), record.StateSubmitted); !r.EnteredAt(record.StateHeld).IsZero() {
			t.Errorf("t-%02d was held with the budget's tokens to spare: %+v", i, r.Timeline)
		}
	}
}
