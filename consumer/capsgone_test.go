package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestReservationLeftWhenCapsAreRemoved: a delivery reserves under a cap
// and stops before its POST (the wallet empty: the reservation is kept
// for the next delivery); the caps are removed before the next delivery.
// That one saw no cap, reserved nothing, posted, and committed nothing
// (the record said no reservation), nor gave anything back: the earlier
// reservation stayed counted until its usage key expired, the caps read
// high and bound early once set again. It is the submission's whatever
// the caps say now: committed when the POST created the request, given
// back when the upstream refused it.
func TestReservationLeftWhenCapsAreRemoved(t *testing.T) {
	t.Parallel()
	price, _ := money.FromFloat(16) // ISEE 12 + urgency 4
	tests := []struct {
		name            string
		faults          sim.Faults // the next delivery's
		state, reason   string
		requests, spent int64
	}{
		{"posted: committed", sim.Faults{}, record.StateSubmitted, "", 1, int64(price)},
		{"refused: given back", sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 1, Status: 400}}},
			record.StateFailed, dlq.ReasonUpstreamRejected, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			ctx := context.Background()
			b := h.budgetsCapped(budget.Caps{DailyEUR: 100_000})
			h.Sim.SetWallet(0)
			cfg := pipetest.WithConfig(func(c *consumer.Config) { c.WalletProbe = 2 * time.Second; c.HoldPoll = time.Hour })
			stop := h.Start(h.withMoney(b), cfg)
			h.Publish(pipetest.Submission("emp-left", pipetest.ValidFields("Mario")), nil)
			pipetest.WaitExplained(t, 20*time.Second, "emp-left reserved and refused for want of credit", func() bool {
				_, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-left", time.Now())
				r := h.Record("emp-left")
				return err == nil && held && r != nil && r.State == record.StateClaimed && r.Pending == nil && h.Counter("POST /richiesta") == 1
			}, func() string {
				return fmt.Sprintf("record %+v, POSTs %d", h.Record("emp-left"), h.Counter("POST /richiesta"))
			})
			stop()

			if err := b.Delete(ctx, budget.Tenant(pipetest.Tenant)); err != nil {
				t.Fatal(err)
			}
			h.Sim.SetWallet(1000)
			h.Sim.SetFaults(tt.faults)
			h.Start(h.withMoney(b), cfg)
			pipetest.WaitFor(t, 10*time.Second, "the caps view", h.Pipeline.CapsReady)
			if got := h.Counter("POST /richiesta"); got != 1 {
				t.Fatalf("POSTs: %d before the caps view was ready; the next delivery must come after it", got)
			}
			r := h.WaitState("emp-left", tt.state)
			if r.Reason != tt.reason {
				t.Fatalf("emp-left: reason %q, want %q", r.Reason, tt.reason)
			}
			pipetest.WaitFor(t, 10*time.Second, "the message acknowledged", h.settled)
			res, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-left", time.Now())
			if err != nil || held {
				t.Errorf("reservation: %+v held %v (%v); want it committed or given back", res, held, err)
			}
			for _, s := range []budget.Scope{budget.Tenant(pipetest.Tenant), budget.Account()} {
				day, month, err := b.Usage(ctx, s, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if day.Requests != tt.requests || int64(day.Spent) != tt.spent || day.Held != 0 || month.Held != 0 {
					t.Errorf("usage of %s: day %+v, month %+v; want %d requests, %d cents, nothing held", s, day, month, tt.requests, tt.spent)
				}
			}
		})
	}
}
