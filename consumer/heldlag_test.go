package consumer_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
)

// TestHoldKeptWhileItsReadsLag: the holds pass reads a held submission's
// key and record through a replica that lags (the chaos suite's restarted
// leader, catching up), which misses them. The hold stays: its key in the
// bucket and in the pass's view, and once the cap has room the submission
// goes. On the word of such a read the pass removed the key ("released
// already") or dropped it from its view ("gone"), and the submission was
// held for ever, never released nor expired: two of the chaos suite's 2,000
// did so.
func TestHoldKeptWhileItsReadsLag(t *testing.T) {
	for _, read := range []string{"record", "key"} {
		t.Run(read, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			ctx := context.Background()
			b := h.budgetsCapped(oneEuroADay)
			records, holds := natstest.NewLaggingKV(h.Res.Records), natstest.NewLaggingKV(h.Res.Holds)
			h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 50 * time.Millisecond }),
				pipetest.WithDeps(func(d *consumer.Deps) {
					d.Budget, d.Ledger = b, h.ledger()
					res := *d.Resources
					res.Records, res.Holds = records, holds
					d.Resources = &res
				}))
			h.Publish(pipetest.Submission("emp-lag", pipetest.ValidFields("Mario")), nil)
			h.WaitState("emp-lag", record.StateHeld)
			pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
			key := holdKeyOf(t, h, "emp-lag")

			lagging, lagged := records, record.Key(pipetest.Tenant, "emp-lag")
			if read == "key" {
				lagging, lagged = holds, key
			}
			lagging.Lag(lagged, 3)
			pipetest.WaitFor(t, 10*time.Second, "a pass to read through the lagging replica", func() bool { return lagging.Left(lagged) < 3 })

			ample, _ := money.FromFloat(100)
			if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
				t.Fatal(err)
			}
			h.WaitState("emp-lag", record.StateSubmitted)
			if n := lagging.Left(lagged); n != 0 {
				t.Errorf("released with %d reads of the %s left to miss: it was never read through the lag", n, read)
			}
		})
	}
}

// holdKeyOf is the holds key of submission id.
func holdKeyOf(t *testing.T, h *harness, id string) string {
	t.Helper()
	keys, err := h.Res.Holds.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasSuffix(k, "."+id) {
			return k
		}
	}
	t.Fatalf("no hold key of %s among %v", id, keys)
	return ""
}

// TestMalformedOfAnExistingSubmissionWhileItsReadLags: a malformed message
// that names an existing submission's id announces nothing about it, also
// when its record is read through a replica that lags and misses it: on
// that read's word the submission got a rejected event of the malformed
// message's beside its own.
func TestMalformedOfAnExistingSubmissionWhileItsReadLags(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	records := natstest.NewLaggingKV(h.Res.Records)
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) {
		res := *d.Resources
		res.Records = records
		d.Resources = &res
	}))
	h.Publish(pipetest.Submission("emp-ok", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-ok", record.StateSubmitted)
	h.WaitLastEvent("emp-ok", "iseed.submission.submitted")
	records.Lag(record.Key(pipetest.Tenant, "emp-ok"), 1)
	h.Publish([]byte(`{"id":"emp-ok","service":"ISEE"}`), nil)
	pipetest.WaitFor(t, 10*time.Second, "the malformed message's dead letter", func() bool { return len(h.DeadLetters()) == 1 })
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	if n := records.Left(record.Key(pipetest.Tenant, "emp-ok")); n != 0 {
		t.Fatalf("the record was not read through the lagging replica (%d reads left to miss)", n)
	}
	if got := h.EventTypes("emp-ok"); len(got) != 1 || got[0] != "iseed.submission.submitted" {
		t.Errorf("the existing submission's events: got %v, want only its submitted", got)
	}
}

// TestCancelWhileItsReadLags: an operator's cancel (and a producer's
// withdrawal, which is the same) of a held submission whose record a
// lagging replica misses cancels it: on that read's word it answered
// unknown, the submission left to be sent.
func TestCancelWhileItsReadLags(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.budgetsCapped(oneEuroADay)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.publishHeld("emp-cl")
	records := natstest.NewLaggingKV(h.Res.Records)
	records.Lag(record.Key(pipetest.Tenant, "emp-cl"), 1)
	res := *h.Res
	res.Records = records
	got, err := consumer.CancelUnsent(context.Background(), h.NATS.JS, &res, pipetest.Tenant, "emp-cl", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != consumer.CancelDone || records.Left(record.Key(pipetest.Tenant, "emp-cl")) != 0 {
		t.Fatalf("cancel through a lagging read: %+v; want cancelled", got)
	}
	h.waitCancelled("emp-cl")
}
