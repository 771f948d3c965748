package consumer_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestUnreadableAnsweredRequestIsDecidedByAPerson: the upstream says the
// id a POST got back does not exist (404). Retried, every delivery reads
// it again until max deliveries, and a replay starts over: the submission
// is never decided. It is failed as ambiguous at once, the id still kept,
// and nothing is sent.
func TestUnreadableAnsweredRequestIsDecidedByAPerson(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	past := time.Now().Add(-time.Minute)
	fields := pipetest.ValidFields("Mario")
	const gone = "5f2829ce065afc21cc6000ff"
	h.PutRecord("emp-404", fields, func(rec *record.Record) {
		rec.Service, rec.Created, rec.Updated = "ISEE", past, past
		rec.Pending = &record.Attempt{Started: past, Owner: "gone", Until: past.Add(time.Second), Answered: gone}
	})
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.Callback = nil }))
	h.Publish(pipetest.Submission("emp-404", fields), nil)
	pipetest.WaitExplained(t, 15*time.Second, "emp-404 dead-lettered as ambiguous", func() bool {
		for _, d := range h.DeadLetters() {
			if d.SubmissionID == "emp-404" && d.Reason == dlq.ReasonAmbiguous {
				return true
			}
		}
		return false
	}, func() string {
		r := h.Record("emp-404")
		return "state " + r.State + ", GET /richiesta/{id} " + strconv.Itoa(h.Counter("GET /richiesta/{id}"))
	})
	r := h.Record("emp-404")
	if r.State != record.StateFailed || r.Answered() != gone || h.Counter("POST /richiesta") != 0 {
		t.Errorf("record %s (%s), kept %q, POSTs %d; want failed ambiguous, %s kept, none sent", r.State, r.Reason, r.Answered(), h.Counter("POST /richiesta"), gone)
	}
}
