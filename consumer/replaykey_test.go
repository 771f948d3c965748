package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestUnverifiedReplayKeepsALetter: a replay whose Iseed-Replay-Of does not
// verify (the replay key rotated between the operator's signing and the
// daemon's check) is taken as an ordinary message of a failed or rejected
// submission, and dead-lettered again. The replay command removed the
// letter that had the submission's letter id: the new one must not be
// dropped as its duplicate, or the failure is listed nowhere. A
// redelivery of that message (its letter stored, the stream's reply lost)
// must still leave one letter, not two.
func TestUnverifiedReplayKeepsALetter(t *testing.T) {
	t.Parallel()
	valid := pipetest.ValidFields("Mario")
	invalid := pipetest.ValidFields("Mario")
	delete(invalid, "$6") // required
	for _, tt := range []struct {
		name   string
		fields map[string]any
		refuse bool // the upstream refuses the POST (412): failed, upstream_rejected
		state  string
		reason string
		lost   bool // the replay's dead letter is stored and the stream's reply lost
	}{
		{"failed", valid, true, record.StateFailed, dlq.ReasonUpstreamRejected, false},
		{"rejected", invalid, false, record.StateRejected, dlq.ReasonInvalid, false},
		{"failed, the new letter's reply lost", valid, true, record.StateFailed, dlq.ReasonUpstreamRejected, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			if tt.refuse {
				h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 1, Status: 412}}})
			}
			js := &deadLetterReplyLost{}
			h.Start(pipetest.WithDeps(func(d *consumer.Deps) { js.JetStream, d.Publisher = d.Publisher, js }))
			h.Publish(pipetest.Submission("emp-rot", tt.fields), nil)
			h.WaitState("emp-rot", tt.state)
			var dls []dlq.DeadLetter
			pipetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
			replayed := dls[0].Seq
			js.armed.Store(tt.lost)
			// The operator's command signs with the new key; the daemon
			// still checks with the old one (pipetest.ReplayKey).
			rotated := dlq.NewQueue(h.NATS.JS, h.Res, []byte("the replay key after rotation!!!"), consumer.ReplayMsgID(h.Res.Layout))
			if err := rotated.Replay(context.Background(), replayed); err != nil {
				t.Fatal(err)
			}
			pipetest.WaitExplained(t, 20*time.Second, "the replay taken", h.settled, func() string {
				return fmt.Sprintf("dead letters %+v", h.DeadLetters())
			})
			if tt.lost && !js.fired.Load() {
				t.Fatal("the fault never fired")
			}
			if dls = h.DeadLetters(); len(dls) != 1 || dls[0].Reason != tt.reason || dls[0].SubmissionID != "emp-rot" || dls[0].Seq == replayed {
				t.Errorf("dead letters after the replay was taken as an ordinary message: got %+v; want one, %s, for emp-rot, not %d (replayed)", dls, tt.reason, replayed)
			}
			if r := h.Record("emp-rot"); r.State != tt.state || r.Generation != 1 || len(r.Replays) != 0 {
				t.Errorf("record: got %s, generation %d, replays %v; want %s, generation 1, not reopened", r.State, r.Generation, r.Replays, tt.state)
			}
			want := 0
			if tt.refuse {
				want = 1
			}
			if got := h.Counter("POST /richiesta"); got != want {
				t.Errorf("POST /richiesta calls: got %d, want %d", got, want)
			}
		})
	}
}

// TestExpiredReplayKeepsALetter: a signed replay that waited past the
// maximum age while its service could not be resolved fails again without
// reopening its submission (expire). The replay command removed the letter
// with the submission's letter id: with a duplicate window longer than the
// maximum age, the new letter must not be dropped as its duplicate.
func TestExpiredReplayKeepsALetter(t *testing.T) {
	t.Parallel()
	h := newHarness(t) // the duplicate window: a minute
	ctx := context.Background()
	fields := pipetest.ValidFields("Mario")
	h.PutRecord("emp-old", fields, func(r *record.Record) {
		r.To(record.StateFailed, time.Now(), dlq.ReasonUpstreamRejected)
		r.Reason = dlq.ReasonUpstreamRejected
	})
	dl := dlq.DeadLetter{OriginalSubject: h.Res.Layout.SubmissionSubject(pipetest.Tenant), StreamSeq: 1,
		Tenant: pipetest.Tenant, SubmissionID: "emp-old", Reason: dlq.ReasonUpstreamRejected, Generation: 1}
	if err := dlq.Publish(ctx, h.NATS.JS, h.Res.Layout, dl, pipetest.Submission("emp-old", fields),
		dlq.MsgID(pipetest.Tenant, "emp-old", 1, dlq.ReasonUpstreamRejected)); err != nil {
		t.Fatal(err)
	}
	dls := h.DeadLetters()
	if len(dls) != 1 {
		t.Fatalf("dead letters: got %+v, want one", dls)
	}
	replayed := dls[0].Seq
	if err := h.Queue().Replay(ctx, replayed); err != nil {
		t.Fatal(err)
	}
	// The daemon takes the replay an hour later by its clock, past the
	// maximum age of 30 minutes, with the catalog unreachable.
	h.Start(pipetest.WithSchemas(flakySchemas{}), pipetest.WithConfig(func(c *consumer.Config) {
		c.MaxAge = 30 * time.Minute
		c.Now = func() time.Time { return time.Now().Add(time.Hour) }
	}))
	pipetest.WaitExplained(t, 20*time.Second, "the replay taken", h.settled, func() string {
		return fmt.Sprintf("dead letters %+v", h.DeadLetters())
	})
	if dls = h.DeadLetters(); len(dls) != 1 || dls[0].Reason != dlq.ReasonUpstreamRejected || dls[0].Seq == replayed {
		t.Errorf("dead letters after the replay expired: got %+v; want one, %s, not %d (replayed)", dls, dlq.ReasonUpstreamRejected, replayed)
	}
	if r := h.Record("emp-old"); r.State != record.StateFailed || r.Generation != 1 || len(r.Replays) != 0 {
		t.Errorf("record: got %s, generation %d, replays %v; want failed, generation 1, not reopened", r.State, r.Generation, r.Replays)
	}
}
