package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestTrackReplayWithAnotherKeyKeepsItsLetter: the replay of a gave_up
// dead letter whose signature does not verify (the replay key rotated
// between the operator's signing and the tracker's check) is an ordinary
// task of a closed record: the tracker announces the give-up again. The
// replay command removed the letter that had the give-up's letter id: the
// new one must not be dropped as its duplicate, or the request that was
// given up on is listed nowhere.
func TestTrackReplayWithAnotherKeyKeepsItsLetter(t *testing.T) {
	h, replayed := givenUp(t, "emp-rot")
	// The operator's command signs with the new key; the tracker still
	// checks with the old one (pipetest.ReplayKey).
	rotated := dlq.NewQueue(h.NATS.JS, h.Res, []byte("the replay key after rotation!!!"), consumer.ReplayMsgID(h.Res.Layout))
	if err := rotated.Replay(context.Background(), replayed); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitExplained(t, 10*time.Second, "the replayed task to be acknowledged", func() bool { return h.openTasks() == 0 }, func() string {
		return fmt.Sprintf("%d tasks open", h.openTasks())
	})
	if dls := h.DeadLetters(); len(dls) != 1 || dls[0].Reason != dlq.ReasonGaveUp || dls[0].Seq == replayed {
		t.Errorf("dead letters after the replay was taken as an ordinary task: got %+v; want one, gave_up, not %d (replayed)", dls, replayed)
	}
	if r := h.Record("emp-rot"); r.State != record.StateFailed || r.Reason != dlq.ReasonGaveUp || len(r.Replays) != 0 {
		t.Errorf("record: got %s (%s), replays %v; want failed (gave_up), not reopened", r.State, r.Reason, r.Replays)
	}
}

// TestTrackGaveUpAgainAfterAReplayKeepsALetter: a replayed gave_up task
// reopens tracking in the same generation; when tracking gives up again
// (ISEED_TRACK_MAX_AGE counts from the replay), the new dead letter must
// not be dropped as a duplicate of the letter the replay command removed,
// which had the same generation and reason.
func TestTrackGaveUpAgainAfterAReplayKeepsALetter(t *testing.T) {
	h, replayed := givenUp(t, "emp-twice")
	if err := h.Queue().Replay(context.Background(), replayed); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitExplained(t, 10*time.Second, "tracking reopened and given up again", func() bool {
		r := h.Record("emp-twice")
		return r.State == record.StateFailed && len(r.Replays) == 1 && h.openTasks() == 0
	}, func() string { return fmt.Sprintf("record %+v, %d tasks open", h.Record("emp-twice"), h.openTasks()) })
	if dls := h.DeadLetters(); len(dls) != 1 || dls[0].Reason != dlq.ReasonGaveUp || dls[0].Seq == replayed {
		t.Errorf("dead letters after tracking gave up again: got %+v; want one, gave_up, not %d (replayed)", dls, replayed)
	}
}

// givenUp runs tracking with a maximum age of a second (of a day in
// 200 ms) until it gives submission id up, and returns the harness and the
// sequence of the gave_up dead letter, once the give-up's task is
// acknowledged.
func givenUp(t *testing.T, id string) (*trackHarness, uint64) {
	t.Helper()
	return givenUpThrough(t, id, nil)
}

// givenUpThrough is givenUp with prepare (when not nil) called on the
// harness before the tracker is built: to set its upstream or its events.
func givenUpThrough(t *testing.T, id string, prepare func(*trackHarness)) (*trackHarness, uint64) {
	t.Helper()
	s := trackSetup{sim: sim.Config{Step: time.Hour}, tracker: tracking.Config{Workers: 2, Timebase: dayIn200ms(t),
		Schedule: []time.Duration{onDayIn200ms(30 * time.Millisecond)}, MaxAge: onDayIn200ms(time.Second)}}
	h := newTrackHarness(t, s)
	if prepare != nil {
		prepare(h)
	}
	tr := h.newTracker(nil)
	h.stop = h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission(id, pipetest.ValidFields("Mario")), nil)
	if r := h.waitClosed(id, 10*time.Second); r.State != record.StateFailed || r.Reason != dlq.ReasonGaveUp {
		t.Fatalf("got %q (%s), want failed (%s)", r.State, r.Reason, dlq.ReasonGaveUp)
	}
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 5*time.Second, "the gave_up dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	pipetest.WaitFor(t, 5*time.Second, "the tracking task to be acknowledged", func() bool { return h.openTasks() == 0 })
	return h, dls[0].Seq
}
