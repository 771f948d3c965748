package consumer_test

import (
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// A submission whose POST went unanswered, past the maximum age while the
// upstream's list of requests cannot be read to reconcile it, fails as
// ambiguous (what docs/consumer.md promises of ISEED_MAX_AGE) and is never
// sent again. It was handed back for as long as the list failed, up to
// ISEED_MAX_DELIVER, claimed long past its maximum age (seen on a walk).
func TestExpiredWhileUnreconcilableFailsAmbiguous(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	past := time.Now().Add(-time.Minute)
	h.PutRecord("emp-unread", pipetest.ValidFields("Mario"), func(r *record.Record) {
		r.Created, r.Updated = past, past
		r.Pending = &record.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second)}
	})
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"GET /richiesta": {Rate: 1, Status: 503}}})
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.MaxAge = time.Millisecond }))
	h.Publish(pipetest.Submission("emp-unread", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "a dead letter", func() bool { return len(h.DeadLetters()) > 0 })
	dl, rec := h.DeadLetters()[0], h.Record("emp-unread")
	if rec.State != record.StateFailed || rec.Reason != dlq.ReasonAmbiguous || dl.Reason != dlq.ReasonAmbiguous {
		t.Errorf("record %s/%s, dead letter %s: want failed, ambiguous, ambiguous", rec.State, rec.Reason, dl.Reason)
	}
	if rec.Pending == nil {
		t.Error("the record lost its pending attempt: want it kept for the person who decides")
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta called %d times, want 0", got)
	}
	pipetest.WaitFor(t, 5*time.Second, "the failed event", func() bool {
		evs := h.Events("emp-unread")
		return len(evs) == 1 && evs[0].Type == "iseed.submission.failed"
	})
}
