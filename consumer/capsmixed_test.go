package consumer_test

import (
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestCapsOffReplicaSendsWhatACappedOneHolds: a replica started with
// ISEED_SPENDING_CAPS=false beside one with caps on (a rolling update that
// turns them on or off, or one replica configured otherwise) releases
// every held submission, those the capped replica holds over a cap
// included, and sends the ones delivered to it uncounted: the cap is
// exceeded while both run. docs/money.md says so, and serve warns of it
// at start (TestServeWarnsOfAReplicaWithCapsOtherwise).
func TestCapsOffReplicaSendsWhatACappedOneHolds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	poll := pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond })
	h.Start(h.withMoney(h.budgetsCapped(oneEuroADay)), poll) // caps on, and it keeps running
	h.Publish(pipetest.Submission("emp-held", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-held", record.StateHeld)
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Ledger = h.ledger() }), poll) // ISEED_SPENDING_CAPS=false
	h.WaitState("emp-held", record.StateSubmitted)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1, over the cap of one euro a day", got)
	}
}
