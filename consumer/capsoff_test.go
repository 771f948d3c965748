package consumer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestHeldSubmissionsGoWhenCapsAreTurnedOff: submissions a cap held (their
// messages acknowledged) wait for the hold loop to send them again. The
// daemon restarted with ISEED_SPENDING_CAPS=false ran no hold loop: they
// stayed held for ever, never sent, never expired, their producers told
// nothing more. With caps off nothing holds them: they go.
func TestHeldSubmissionsGoWhenCapsAreTurnedOff(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	stop := h.Start(h.withMoney(h.budgetsCapped(oneEuroADay)), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.Publish(pipetest.Submission("emp-held", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-held", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	stop()

	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Ledger = h.ledger() }), // ISEED_SPENDING_CAPS=false
		pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	var r *record.Record
	pipetest.WaitExplained(t, 10*time.Second, "emp-held sent with caps off", func() bool {
		r = h.Record("emp-held")
		return r.State == record.StateSubmitted
	}, func() string {
		keys, err := h.holdKeys()
		return fmt.Sprintf("emp-held is %s; hold keys %v (%v)", r.State, keys, err)
	})
	pipetest.WaitFor(t, 10*time.Second, "its hold key removed", func() bool {
		keys, err := h.holdKeys()
		return err == nil && len(keys) == 0
	})
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}
