package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// holdKeys lists the holds bucket's keys; none is an empty list.
func (h *harness) holdKeys() ([]string, error) {
	keys, err := h.Res.Holds.Keys(context.Background())
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	return keys, err
}

// TestMaxDeliveriesOfAHeldSubmission: a message of a held submission
// exhausts its deliveries: the delivery that held it could not publish its
// held event (or its ack was lost), or a release's delivery reserved and
// stopped before its POST (the wallet empty). The advisory stored a
// max_deliveries dead letter while the record stayed held and its hold key
// stayed: the hold loop sent it again later (a paid request under a letter
// that says it failed), and a replay of the letter made a second way in.
// The advisory ends the hold as it fails a claimed submission: failed
// max_deliveries, one dead letter, one failed event, the key gone, the
// reservation given back, nothing sent; a release delivered after that
// finds it failed, and its letter stored already.
func TestMaxDeliveriesOfAHeldSubmission(t *testing.T) {
	for _, tc := range []string{"its held event refused", "its release's delivery out of credit"} {
		t.Run(tc, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.withMaxDeliver(1)
			ctx := context.Background()
			b := h.budgetsCapped(oneEuroADay)
			ev := &flakyEvents{state: record.StateHeld}
			if tc == "its held event refused" {
				ev.armed.Store(true)
			} else {
				h.Sim.SetWallet(0)
			}
			h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
				c.HoldPoll = 100 * time.Millisecond
				c.WalletProbe = 2 * time.Second // the out-of-credit retry's delay: then the advisory
			}), pipetest.WithDeps(func(d *consumer.Deps) {
				d.Budget, d.Ledger = b, h.ledger()
				ev.Events = d.Events
				d.Events = ev
			}))
			data := pipetest.Submission("emp-held", pipetest.ValidFields("Mario"))
			h.Publish(data, nil)
			h.WaitState("emp-held", record.StateHeld)
			if tc == "its release's delivery out of credit" {
				ample, _ := money.FromFloat(100)
				if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
					t.Fatal(err)
				}
			}
			pipetest.WaitExplained(t, 30*time.Second, "the advisory handled", h.advisoriesSettled, func() string {
				return fmt.Sprintf("events %v; dead letters %+v", h.EventTypes("emp-held"), h.DeadLetters())
			})
			if tc == "its held event refused" && !ev.fired.Load() {
				t.Fatal("the held event was never refused")
			}
			pipetest.WaitExplained(t, 10*time.Second, "the hold key removed", func() bool {
				keys, err := h.holdKeys()
				return err == nil && len(keys) == 0
			}, func() string {
				keys, err := h.holdKeys()
				r := h.Record("emp-held")
				return fmt.Sprintf("keys %v (%v); record %s/%s; dead letters %+v", keys, err, r.State, r.Reason, h.DeadLetters())
			})
			if r := h.Record("emp-held"); r.State != record.StateFailed || r.Reason != dlq.ReasonMaxDeliveries || r.RequestID != "" {
				t.Errorf("record: got %s/%s, request %q; want failed/max_deliveries, none", r.State, r.Reason, r.RequestID)
			}
			if dls := h.DeadLetters(); len(dls) != 1 || dls[0].Reason != dlq.ReasonMaxDeliveries {
				t.Errorf("dead letters: got %+v, want one, max_deliveries", dls)
			}
			failed := publisher.StatusType(record.StateFailed)
			h.WaitLastEvent("emp-held", failed)
			if got := count(h.EventTypes("emp-held"), failed); got != 1 {
				t.Errorf("%s events: got %d (%v), want 1", failed, got, h.EventTypes("emp-held"))
			}
			if res, held, err := b.Lookup(ctx, pipetest.Tenant, "emp-held", time.Now()); err != nil || held {
				t.Errorf("reservation: got %+v held %v (%v), want given back: nothing was spent", res, held, err)
			}
			// A release the hold loop stored before the hold ended, delivered
			// after: the submission failed, it is one letter still.
			h.Publish(data, nil)
			pipetest.WaitFor(t, 20*time.Second, "the late release settled", h.settled)
			if dls := h.DeadLetters(); len(dls) != 1 {
				t.Errorf("dead letters after a late release: got %+v, want one", dls)
			}
			if got := h.Counter("created"); got != 0 {
				t.Errorf("upstream requests: got %d, want 0", got)
			}
		})
	}
}
