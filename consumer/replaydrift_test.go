package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestReplayOfAnUnreconcilableLetterKeepsALetter: an ambiguous dead letter
// of a submission that no longer validates, replayed as the runbook says,
// still cannot be reconciled: the submission stays failed, and a dead
// letter must still say so. The replay removed the letter and the
// pipeline's new one, for the same generation and reason, was dropped by
// the DLQ stream as a duplicate of the one just removed: nothing listed.
func TestReplayOfAnUnreconcilableLetterKeepsALetter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	data := driftedClaim(t, h)
	h.Start()
	h.Publish(data, nil)
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 20*time.Second, "the ambiguous dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	if dls[0].Reason != dlq.ReasonAmbiguous {
		t.Fatalf("dead letter: got %+v, want ambiguous", dls[0])
	}
	if err := h.Queue().Replay(context.Background(), dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 20*time.Second, "the replay to be taken", func() bool {
		info, err := h.Res.Consumer.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream >= 2
	})
	if left := h.DeadLetters(); len(left) != 1 {
		t.Errorf("dead letters after replaying the unreconcilable one: %+v; want one, still saying it failed", left)
	}
	if r := h.Record("emp-drift"); r.State != record.StateFailed || r.Pending == nil {
		t.Errorf("record: %+v; want failed with its attempt still pending", r)
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
}
