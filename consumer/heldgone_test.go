package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/rs/zerolog"
)

// TestEndedHoldWhoseMessageIsGone: a held submission failed expired or
// malformed (by the pipeline on its release's delivery, or by a pass that
// stopped before announcing it) whose held message is gone from the
// submissions stream (aged out past its 30 days, deleted by a quota
// lowered under it, or by an operator). The pass that announces it could
// not read the message to dead-letter it: it warned and gave up every
// pass, for good, the key stayed, the producer never heard the failure,
// and the tenant's later holds queued behind it for ever. Its failed
// event goes out, its key is removed, and the tenant's next hold goes.
func TestEndedHoldWhoseMessageIsGone(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	var logs pipetest.Buffer
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 100 * time.Millisecond
		c.Logger = zerolog.New(&logs)
	}))
	h.Publish(pipetest.Submission("emp-gone", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-gone", record.StateHeld)
	h.Publish(pipetest.Submission("emp-after", pipetest.ValidFields("Luigi")), nil)
	h.WaitState("emp-after", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })

	// The held message leaves the stream, and the record is failed expired
	// with its key still there.
	keys, err := h.Res.Holds.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	for _, k := range keys {
		if strings.HasSuffix(k, ".emp-gone") {
			e, err := h.Res.Holds.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			var v struct{ Seq uint64 }
			if err := json.Unmarshal(e.Value(), &v); err != nil {
				t.Fatal(err)
			}
			seq = v.Seq
		}
	}
	if seq == 0 {
		t.Fatalf("no hold key of emp-gone among %v", keys)
	}
	if err := h.Res.Submissions.DeleteMsg(ctx, seq); err != nil {
		t.Fatal(err)
	}
	failHeldByHand(t, h, "emp-gone", dlq.ReasonExpired, "held past the maximum age of 72h0m0s")
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}

	pipetest.WaitExplained(t, 10*time.Second, "emp-gone's failed event", func() bool {
		return len(h.Events("emp-gone")) == 2
	}, func() string {
		return fmt.Sprintf("events %v, %d warnings %q", h.EventTypes("emp-gone"),
			strings.Count(logs.String(), "is gone from the"), "its message is gone from the submissions stream")
	})
	if evs := h.EventTypes("emp-gone"); evs[1] != "iseed.submission.failed" {
		t.Errorf("events: got %v, want held then failed", evs)
	}
	r := h.WaitState("emp-after", record.StateSubmitted)
	if r.Attempts != 1 {
		t.Errorf("emp-after: got %d attempts, want 1", r.Attempts)
	}
	pipetest.WaitFor(t, 10*time.Second, "the hold keys removed", func() bool {
		keys, err := h.Res.Holds.Keys(ctx)
		return err != nil && strings.Contains(err.Error(), "no keys") || err == nil && len(keys) == 0
	})
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (emp-after's)", got)
	}
}

// TestHeldSubmissionWhoseMessageIsGoneExpires: a held submission whose
// message is gone from the submissions stream (aged out, deleted by a
// quota lowered under it, or by an operator) cannot be released. It is
// expired when its release is delivered: with nothing to release it was
// never expired, stayed held for ever, the pass warning each time, and its
// tenant's later holds queued behind it. Past the maximum age it fails
// expired, with its failed event; nothing is sent.
func TestHeldSubmissionWhoseMessageIsGoneExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	var logs pipetest.Buffer
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.MaxAge = 3 * time.Second
		c.HoldPoll = 100 * time.Millisecond
		c.Logger = zerolog.New(&logs)
	}))
	h.Publish(pipetest.Submission("emp-lost", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-lost", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	info, err := h.Res.Submissions.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Res.Submissions.DeleteMsg(ctx, info.State.LastSeq); err != nil {
		t.Fatal(err)
	}
	var r *record.Record
	pipetest.WaitExplained(t, 15*time.Second, "emp-lost to be failed", func() bool {
		r = h.Record("emp-lost")
		return r.State == record.StateFailed
	}, func() string {
		return fmt.Sprintf("state %s (%s), %d warnings %q", r.State, r.Reason,
			strings.Count(logs.String(), "is gone from the"), "its message is gone from the submissions stream")
	})
	if r.Reason != dlq.ReasonExpired || r.Attempts != 0 {
		t.Errorf("emp-lost: reason %q, attempts %d; want expired, 0", r.Reason, r.Attempts)
	}
	pipetest.WaitFor(t, 10*time.Second, "emp-lost's failed event", func() bool {
		evs := h.Events("emp-lost")
		return len(evs) == 2 && evs[1].Type == "iseed.submission.failed"
	})
	pipetest.WaitFor(t, 10*time.Second, "the hold key removed", func() bool {
		keys, err := h.Res.Holds.Keys(ctx)
		return err != nil && strings.Contains(err.Error(), "no keys") || err == nil && len(keys) == 0
	})
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POSTs: got %d, want none", got)
	}
}

// TestHoldWhoseMessageIsGoneDoesNotBlockItsTenant: a held submission
// whose message is gone from the submissions stream can never be
// released, and waits to be failed expired at the maximum age (72 hours
// by default). Its tenant's later holds waited behind it all that time,
// the caps allowing them: it cannot take the room they wait for. They go.
func TestHoldWhoseMessageIsGoneDoesNotBlockItsTenant(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.Publish(pipetest.Submission("emp-gone", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-gone", record.StateHeld)
	info, err := h.Res.Submissions.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gone := info.State.LastSeq
	h.Publish(pipetest.Submission("emp-after", pipetest.ValidFields("Luigi")), nil)
	h.WaitState("emp-after", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	if err := h.Res.Submissions.DeleteMsg(ctx, gone); err != nil {
		t.Fatal(err)
	}
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	var r *record.Record
	pipetest.WaitExplained(t, 10*time.Second, "emp-after to be released and submitted", func() bool {
		r = h.Record("emp-after")
		return r.State == record.StateSubmitted
	}, func() string { return fmt.Sprintf("emp-after is %s, emp-gone %s", r.State, h.Record("emp-gone").State) })
	if r := h.Record("emp-gone"); r.State != record.StateHeld {
		t.Errorf("emp-gone: got %s, want held until the maximum age", r.State)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (emp-after's)", got)
	}
}

// TestGoneHoldUnderAnEndedLeaseExpires: a release's delivery took a held
// submission over and died before its POST (its lease Unsent, ended), and
// both its held message and the release left the stream (a tenant quota
// lowered under them): no delivery of it is coming. RunHolds left it to
// "the delivery that has it" past the maximum age: it stayed held for
// ever, its tenant's later holds behind it. Nothing was sent under an
// Unsent lease: it fails expired, with its failed event, and its key goes.
func TestGoneHoldUnderAnEndedLeaseExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 100 * time.Millisecond
		c.MaxAge = 3 * time.Second
	}))
	h.Publish(pipetest.Submission("emp-lost", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-lost", record.StateHeld)
	info, err := h.Res.Submissions.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	gone := info.State.LastSeq
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	past := time.Now().Add(-time.Minute)
	setPending(t, h, "emp-lost", &record.Attempt{Started: past, Owner: "died", Until: past.Add(time.Second), Unsent: true})
	if err := h.Res.Submissions.DeleteMsg(ctx, gone); err != nil {
		t.Fatal(err)
	}
	var r *record.Record
	pipetest.WaitExplained(t, 15*time.Second, "emp-lost to be failed", func() bool {
		r = h.Record("emp-lost")
		return r.State == record.StateFailed
	}, func() string { return fmt.Sprintf("emp-lost is %s", r.State) })
	if r.Reason != dlq.ReasonExpired || r.Pending != nil {
		t.Errorf("emp-lost: reason %q, pending %+v; want expired, none", r.Reason, r.Pending)
	}
	pipetest.WaitFor(t, 10*time.Second, "emp-lost's failed event", func() bool {
		evs := h.Events("emp-lost")
		return len(evs) == 2 && evs[1].Type == "iseed.submission.failed"
	})
	pipetest.WaitFor(t, 10*time.Second, "the hold key removed", func() bool {
		keys, err := h.holdKeys()
		return err == nil && len(keys) == 0
	})
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POSTs: got %d, want none", got)
	}
}
