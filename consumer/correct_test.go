package consumer_test

import (
	"context"
	"encoding/json"
	"maps"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestCorrectedReplay: an operator's signed replay of a dead letter with a
// corrected payload takes the recorded submission's place when nothing sent
// for the old payload can exist upstream, and is a conflict otherwise;
// either way the submission makes at most one request.
func TestCorrectedReplay(t *testing.T) {
	t.Parallel()
	invalid := pipetest.ValidFields("Mario")
	invalid["Email"] = "mario at example"
	valid := pipetest.ValidFields("Mario")
	tests := []struct {
		name    string
		prepare func(h *harness) // leaves one dead letter of emp-c
		state   string           // the record's state after the corrected replay
		created int
	}{
		{"rejected: the correction is sent", func(h *harness) {
			h.Publish(pipetest.Submission("emp-c", invalid), nil)
			h.WaitState("emp-c", record.StateRejected)
		}, record.StateSubmitted, 1},
		{"failed without a POST in doubt: the correction is sent", func(h *harness) {
			h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // the upstream refuses every POST: nothing created
			h.Publish(pipetest.Submission("emp-c", pipetest.ValidFields("Maria")), nil)
			h.WaitState("emp-c", record.StateFailed)
			h.Sim.SetFaults(sim.Faults{})
		}, record.StateSubmitted, 1},
		{"ambiguous: another payload is a conflict, nothing sent", func(h *harness) {
			h.PutRecord("emp-c", pipetest.ValidFields("Maria"), func(r *record.Record) {
				r.State, r.Reason = record.StateFailed, dlq.ReasonAmbiguous
				r.Pending = &record.Attempt{Started: time.Now(), Owner: "gone", Until: time.Now()}
			})
			dl := dlq.DeadLetter{OriginalSubject: h.Res.Layout.SubmissionSubject(pipetest.Tenant), StreamSeq: 99,
				Tenant: pipetest.Tenant, SubmissionID: "emp-c", Reason: dlq.ReasonAmbiguous, Generation: 1}
			if err := dlq.Publish(context.Background(), h.NATS.JS, h.Res.Layout, dl, pipetest.Submission("emp-c", pipetest.ValidFields("Maria")),
				dlq.MsgID(pipetest.Tenant, "emp-c", 1, dlq.ReasonAmbiguous)); err != nil {
				t.Fatal(err)
			}
		}, record.StateFailed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.Start()
			tt.prepare(h)
			var dls []dlq.DeadLetter
			pipetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
			corrected := pipetest.Submission("emp-c", valid)
			if err := h.Queue().ReplayWith(context.Background(), dls[0].Seq, corrected); err != nil {
				t.Fatal(err)
			}
			pipetest.WaitFor(t, 10*time.Second, "the replay handled", func() bool { return h.settled() })
			r := h.WaitState("emp-c", tt.state)
			sub, _ := consumer.DecodeSubmission(corrected)
			if sent := tt.created == 1; sent != (r.Fingerprint == sub.Fingerprint()) {
				t.Errorf("record fingerprint %s, corrected %s; want them equal only when the correction was sent", r.Fingerprint, sub.Fingerprint())
			}
			if got := h.Counter("created"); got != tt.created {
				t.Errorf("upstream requests: got %d, want %d", got, tt.created)
			}
			if tt.created == 0 {
				// The replay's only trace is its dead letter: wait for it (the
				// consumer's pending count can read 0 just after a publish).
				var left []dlq.DeadLetter
				pipetest.WaitFor(t, 10*time.Second, "one conflict dead letter", func() bool {
					left = h.DeadLetters()
					return len(left) == 1 && left[0].Reason == dlq.ReasonConflict
				})
				if got := h.Counter("created"); got != 0 {
					t.Errorf("upstream requests after the conflict: got %d, want 0", got)
				}
			}
			// The correction published again, unsigned, changes nothing.
			h.Publish(corrected, nil)
			pipetest.WaitFor(t, 10*time.Second, "the copy handled", func() bool { return h.settled() })
			if got := h.Counter("created"); got != tt.created {
				t.Errorf("upstream requests after an unsigned copy: got %d, want %d", got, tt.created)
			}
		})
	}
}

// TestMalformedRejectionOrdersFirst: a malformed message whose id is free
// is rejected at generation 0, before any record, so that the submission
// of that id that comes next (corrected by an operator's replay, or sent
// again by its producer) orders after it by generation, as docs/events.md
// tells a client to order events, though both end in a final state.
func TestMalformedRejectionOrdersFirst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		correct func(h *harness, fixed []byte)
	}{
		{"the operator's corrected replay", func(h *harness, fixed []byte) {
			if err := h.Queue().ReplayWith(context.Background(), h.DeadLetters()[0].Seq, fixed); err != nil {
				t.Fatal(err)
			}
		}},
		{"the producer sends it again", func(h *harness, fixed []byte) { h.Publish(fixed, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.Start()
			h.Publish([]byte(`{"id":"emp-m","service":"ISEE","Bogus":1}`), nil)
			pipetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { return len(h.DeadLetters()) == 1 })
			if g := h.DeadLetters()[0].Generation; g != 0 {
				t.Errorf("the dead letter's %s is %d; want 0, its rejected event's", dlq.HeaderGeneration, g)
			}
			tt.correct(h, pipetest.Submission("emp-m", pipetest.ValidFields("Mario")))
			h.WaitState("emp-m", record.StateSubmitted)
			pipetest.WaitFor(t, 10*time.Second, "two events", func() bool { return len(h.Events("emp-m")) == 2 })
			gen := make(map[string]int)
			for _, ev := range h.Events("emp-m") {
				var d struct {
					State      string `json:"state"`
					Generation *int   `json:"generation"`
				}
				if err := json.Unmarshal(ev.Data, &d); err != nil || d.Generation == nil {
					t.Fatalf("event %s: %v; want its generation, always present", ev.Data, err)
				}
				gen[d.State] = *d.Generation
			}
			if want := map[string]int{record.StateRejected: 0, record.StateSubmitted: 1}; !maps.Equal(gen, want) {
				t.Errorf("generations by state: got %v, want %v", gen, want)
			}
		})
	}
}
