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
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
)

// TestEndedHoldGivesItsReservationBack: a released hold whose delivery
// reserved and stopped before its POST (the wallet empty: the reservation
// is kept for the submission's next delivery) stays held, its lease given
// up. Ended by RunHolds (its message too large to be released once the
// size limit was lowered), it was failed with its reservation still
// counted against the caps, money never spent: the reservation is given
// back once the record says failed.
func TestEndedHoldGivesItsReservationBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	h.Sim.SetWallet(0)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 100 * time.Millisecond
		c.WalletProbe = time.Minute
	}))
	fields := pipetest.ValidFields("Mario")
	fields["$6"] = "cf.pdf|data:application/pdf;base64," + strings.Repeat("QUFB", 10<<10)
	data := pipetest.Submission("emp-res", fields)
	h.Publish(data, nil)
	h.WaitState("emp-res", record.StateHeld)
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	// Released, reserved, refused for want of credit: held, no lease, reserved.
	pipetest.WaitExplained(t, 20*time.Second, "emp-res reserved, held and without a lease", func() bool {
		r := h.Record("emp-res")
		_, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-res", time.Now())
		return err == nil && held && r.State == record.StateHeld && r.Pending == nil && h.Counter("POST /richiesta") > 0
	}, func() string {
		r := h.Record("emp-res")
		return fmt.Sprintf("state %s, pending %+v, POSTs %d", r.State, r.Pending, h.Counter("POST /richiesta"))
	})
	cfg := h.Res.Submissions.CachedInfo().Config
	cfg.MaxMsgSize = int32(len(data) + 512)
	if _, err := h.NATS.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Res.Submissions.Info(ctx); err != nil {
		t.Fatal(err)
	}
	r := h.WaitState("emp-res", record.StateFailed)
	if r.Reason != dlq.ReasonMalformed || r.RequestID != "" {
		t.Fatalf("emp-res: reason %q, request %q; want malformed, none", r.Reason, r.RequestID)
	}
	if got := h.Counter("created"); got != 0 {
		t.Fatalf("upstream requests: got %d, want 0", got)
	}
	h.WaitLastEvent("emp-res", "iseed.submission.failed")
	if res, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-res", time.Now()); err != nil || held {
		t.Errorf("reservation: got %+v held %v (%v), want given back: nothing was spent", res, held, err)
	}
}

// TestExpiredHoldGivesItsReservationBack: as TestEndedHoldGivesItsReservationBack,
// the hold past the maximum age: the delivery that expires it (its
// release's, delivered again) reserved nothing itself, and failed it with
// the earlier delivery's reservation still counted.
func TestExpiredHoldGivesItsReservationBack(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	h.Sim.SetWallet(0)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 100 * time.Millisecond
		c.WalletProbe = 2 * time.Second
		c.MaxAge = 4 * time.Second
	}))
	h.Publish(pipetest.Submission("emp-old", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-old", record.StateHeld)
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, "emp-old reserved, held", func() bool {
		_, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-old", time.Now())
		return err == nil && held && h.Record("emp-old").State == record.StateHeld
	})
	r := h.WaitState("emp-old", record.StateFailed)
	if r.Reason != dlq.ReasonExpired || r.RequestID != "" {
		t.Fatalf("emp-old: reason %q, request %q; want expired, none", r.Reason, r.RequestID)
	}
	if got := h.Counter("created"); got != 0 {
		t.Fatalf("upstream requests: got %d, want 0", got)
	}
	h.WaitLastEvent("emp-old", "iseed.submission.failed")
	if res, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-old", time.Now()); err != nil || held {
		t.Errorf("reservation: got %+v held %v (%v), want given back: nothing was spent", res, held, err)
	}
}
