package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestHeldSubmissionAtTenantQuotaExpires: a held submission's release is
// a publication on its tenant's subject, which the stream refuses while
// the tenant holds as many submissions as its quota allows
// (ISEED_TENANT_MAX_SUBMISSIONS). A held submission is expired when its
// release is delivered: refused, it was never expired, and stayed held
// until the tenant's oldest message aged out of the stream (30 days), its
// producer told nothing. Past the maximum age it now fails expired, with
// its dead letter and failed event; nothing is sent.
func TestHeldSubmissionAtTenantQuotaExpires(t *testing.T) {
	l := pipetest.DefaultLayout()
	l.TenantMaxSubmissions = 2
	h := &harness{pipetest.NewWithLayout(t, sim.Config{Step: time.Hour, Wallet: 1e7}, 2*time.Second, l)}
	ctx := context.Background()
	b := h.budgets()
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 1}); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.MaxAge = 3 * time.Second
		c.HoldPoll = 100 * time.Millisecond
	}))
	pipetest.WaitFor(t, 10*time.Second, "the caps view", h.Pipeline.CapsReady)
	h.Publish(pipetest.Submission("first", pipetest.ValidFields("Mario Rossi")), nil)
	h.WaitState("first", record.StateSubmitted)
	h.Publish(pipetest.Submission("second", pipetest.ValidFields("Luigi Bianchi")), nil)
	h.WaitState("second", record.StateHeld)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 2}); err != nil {
		t.Fatal(err)
	}
	r := h.WaitState("second", record.StateFailed)
	if r.Reason != dlq.ReasonExpired || r.Attempts != 0 {
		t.Errorf("second: reason %q, attempts %d; want expired, 0", r.Reason, r.Attempts)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (first's)", got)
	}
	h.WaitLastEvent("second", "iseed.submission.failed")
	var letters int
	for _, dl := range h.DeadLetters() {
		if dl.SubmissionID == "second" && dl.Reason == dlq.ReasonExpired {
			letters++
		}
	}
	if letters != 1 {
		t.Errorf("second's expired dead letters: %d, want 1", letters)
	}
}
