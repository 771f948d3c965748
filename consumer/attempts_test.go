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

// TestAttemptsCountThePOSTsSent: the record's Attempts (and a dead letter's
// Iseed-Attempts) is the number of POSTs sent for the submission, whatever
// happened between them: a POST refused, one unanswered and then settled
// in the same delivery or in the next, one unanswered and then found
// ambiguous. A redelivery must neither take back an attempt it never
// counted nor send one uncounted.
func TestAttemptsCountThePOSTsSent(t *testing.T) {
	t.Parallel()
	unanswered := sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 1}}} // a 503: the request may exist
	tests := []struct {
		name    string
		faults  sim.Faults
		outside bool // a request of the same person made outside iseed: the unanswered POST cannot be told apart
		cfg     func(*consumer.Config)
		state   string
		posts   int
	}{
		{"one POST", sim.Faults{}, false, func(*consumer.Config) {}, record.StateSubmitted, 1},
		{"a refused POST, then another", sim.Faults{Throttle: map[string]sim.ThrottleFault{"POST /richiesta": {Next: 1}}}, false,
			func(c *consumer.Config) { c.InProcessBudget = 2500 * time.Millisecond }, record.StateSubmitted, 2},
		{"an unanswered POST, then another in the same delivery", unanswered, false,
			func(*consumer.Config) {}, record.StateSubmitted, 2},
		{"an unanswered POST, then another in the next delivery", unanswered, false,
			func(c *consumer.Config) { c.ReconcileSettle = 2 * time.Second }, record.StateSubmitted, 2},
		{"an unanswered POST, found ambiguous in the next delivery", unanswered, true,
			func(c *consumer.Config) { c.AdoptGrace = 3 * time.Second }, record.StateFailed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			fields := pipetest.ValidFields("Mario")
			if tt.outside {
				requestOutsideIseed(t, h, fields)
			}
			before := h.Counter("POST /richiesta")
			h.Sim.SetFaults(tt.faults)
			h.Start(pipetest.WithConfig(tt.cfg))
			h.Publish(pipetest.Submission("emp-n", fields), nil)
			r := h.WaitState("emp-n", tt.state)
			posts := h.Counter("POST /richiesta") - before
			if posts != tt.posts || r.Attempts != posts {
				t.Errorf("POSTs: got %d, want %d; attempts in the record: got %d, want %d", posts, tt.posts, r.Attempts, posts)
			}
			if tt.state != record.StateFailed {
				return
			}
			var dls []dlq.DeadLetter
			pipetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
			if dls[0].Reason != dlq.ReasonAmbiguous || dls[0].Attempts != posts {
				t.Errorf("dead letter: reason %s, attempts %d; want %s, %d", dls[0].Reason, dls[0].Attempts, dlq.ReasonAmbiguous, posts)
			}
		})
	}
}
