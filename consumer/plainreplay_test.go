package consumer_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestPlainReplayOfAnotherPayloadIsNeverSent: the operator's side refuses
// to replay unchanged a dead letter whose payload is another submission
// than its record's, when that record takes a correction
// (dlq.CheckPlainReplay). But the record can change between that check
// and the pipeline's handling of the replay: here the check passes (no
// record yet; a POST in doubt), and the record then takes a correction
// (the producer's other payload failed with nothing sent; the doubt was
// lifted). The pipeline used to take the plain replay for a correction
// and send it in place of the recorded submission. It refuses it as a
// conflict whose dead letter says why, sends nothing, and leaves the
// record as it was; a correction of that letter, asked for explicitly
// (dlq.Queue.ReplayWith, which marks it), still goes through, once.
func TestPlainReplayOfAnotherPayloadIsNeverSent(t *testing.T) {
	t.Parallel()
	letter := pipetest.Submission("emp-p", pipetest.ValidFields("Mario")) // the dead letter's payload
	recorded := pipetest.ValidFields("Maria")                             // the record's
	tests := []struct {
		name string
		// before stores what the operator's check reads (nothing, or a
		// record) with no pipeline running.
		before func(h *harness)
		// between changes the record to one that takes a correction after
		// the check, before the replay is published and handled; it starts
		// the pipeline.
		between func(h *harness)
	}{
		{"no record at the check; the producer's payload then fails, nothing sent", func(*harness) {}, func(h *harness) {
			h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // refused: nothing created
			h.Start()
			h.Publish(pipetest.Submission("emp-p", recorded), nil)
			h.WaitState("emp-p", record.StateFailed)
			h.Sim.SetFaults(sim.Faults{})
		}},
		{"a POST in doubt at the check; then resolved, nothing sent", func(h *harness) {
			h.PutRecord("emp-p", recorded, func(r *record.Record) {
				r.State, r.Reason = record.StateFailed, dlq.ReasonAmbiguous
				r.Pending = &record.Attempt{Started: time.Now(), Owner: "gone", Until: time.Now()}
			})
		}, func(h *harness) {
			store := record.NewStore(h.Res.Records)
			r, rev, err := store.Get(context.Background(), pipetest.Tenant, "emp-p")
			if err != nil {
				t.Fatal(err)
			}
			r.Pending, r.Reason = nil, dlq.ReasonUpstreamRejected
			if _, err := store.Update(context.Background(), r, rev); err != nil {
				t.Fatal(err)
			}
			h.Start()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			ctx := context.Background()
			tt.before(h)
			dl := dlq.DeadLetter{OriginalSubject: h.Res.Layout.SubmissionSubject(pipetest.Tenant), StreamSeq: 99,
				Tenant: pipetest.Tenant, SubmissionID: "emp-p", Reason: dlq.ReasonExpired}
			if err := dlq.Publish(ctx, h.NATS.JS, h.Res.Layout, dl, letter, dlq.MsgIDOfMessage("test", 99)); err != nil {
				t.Fatal(err)
			}
			q := h.Queue()
			l, err := q.Get(ctx, h.DeadLetters()[0].Seq)
			if err != nil {
				t.Fatal(err)
			}
			// The operator's check, as iseed dlq replay makes it: it passes.
			if err := consumer.CheckReplay(l.DeadLetter, l.Payload, 0); err != nil {
				t.Fatal(err)
			}
			if err := dlq.CheckPlainReplay(l.DeadLetter, consumer.LetterFingerprint(l.Payload), h.Record("emp-p")); err != nil {
				t.Fatalf("the operator's check: %v; want it passed", err)
			}
			tt.between(h)
			before := h.Record("emp-p")
			if before.State != record.StateFailed || before.PostInDoubt() || before.RequestID != "" {
				t.Fatalf("record before the replay is handled: %+v; want failed, nothing sent: it takes a correction", before)
			}
			posts := h.Counter("POST /richiesta")
			if err := q.Replay(ctx, l.Seq); err != nil {
				t.Fatal(err)
			}
			var refused dlq.DeadLetter
			pipetest.WaitFor(t, 10*time.Second, "the replay handled: refused, or sent", func() bool {
				if r := h.Record("emp-p"); r.Generation != before.Generation {
					return h.settled() // reopened
				}
				dls := h.DeadLetters()
				i := slices.IndexFunc(dls, func(d dlq.DeadLetter) bool { return d.Reason == dlq.ReasonConflict })
				if i >= 0 {
					refused = dls[i]
				}
				return i >= 0 && h.settled()
			})
			if got := h.Counter("POST /richiesta"); got != posts {
				r := h.Record("emp-p")
				t.Fatalf("POSTs: got %d, want %d: the plain replay was sent (record %s, generation %d, fingerprint %s)", got, posts, r.State, r.Generation, r.Fingerprint)
			}
			if got := h.Counter("created"); got != 0 {
				t.Errorf("upstream requests: got %d, want 0", got)
			}
			if want := fmt.Sprintf("dead letter %d was replayed unchanged", l.Seq); refused.SubmissionID != "emp-p" || !strings.Contains(refused.Error, want) {
				t.Errorf("dead letter of the replay: %+v; want emp-p's, its error saying %q", refused, want)
			}
			after := h.Record("emp-p")
			if after.Fingerprint != before.Fingerprint || after.State != record.StateFailed || after.Generation != before.Generation || len(after.Replays) != 0 {
				t.Errorf("record after the replay: %+v; want it as it was (%+v)", after, before)
			}
			// The same payload, replayed as a correction of the refusal's
			// letter: explicit, it takes the recorded one's place.
			if err := q.ReplayWith(ctx, refused.Seq, letter); err != nil {
				t.Fatal(err)
			}
			r := h.WaitState("emp-p", record.StateSubmitted)
			if r.Fingerprint != consumer.LetterFingerprint(letter) || r.Generation != before.Generation+1 {
				t.Errorf("record after the correction: fingerprint %s, generation %d; want %s, %d",
					r.Fingerprint, r.Generation, consumer.LetterFingerprint(letter), before.Generation+1)
			}
			if got := h.Counter("created"); got != 1 {
				t.Errorf("upstream requests after the correction: got %d, want 1", got)
			}
		})
	}
}
