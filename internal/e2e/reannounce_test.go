package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
)

// TestASubmissionSentAgainAfterAReopenIsAnnouncedWithTheReopensID: a
// replay reopened tracking in submitted, and the reopen's event has not
// gone out (its tracker cannot publish it, as one that stopped after the
// record write). The producer, whose last status event says failed, sends
// the submission again: the pipeline announces the record's state again
// with the id tracking gives it (….submitted.r<sequence>). With the plain
// id, which the submitted event before the give-up had, the stream drops
// it as a duplicate within the window, and the producer hears nothing.
func TestASubmissionSentAgainAfterAReopenIsAnnouncedWithTheReopensID(t *testing.T) {
	const id = "emp-reopen-again"
	h, _, replayed := replayedWith(t, id, func(e tracking.Events) tracking.Events {
		return &refused{Events: e, state: publisher.StateSubmitted}
	})
	pipetest.WaitFor(t, 10*time.Second, "the replay to reopen the record", func() bool {
		r := h.Record(id)
		return r.State == record.StateSubmitted && len(r.Replays) == 1
	})
	if got, want := lastEventID(h.Events(id)), publisher.StatusEventID(pipetest.Tenant, id, 1, publisher.StateFailed); got != want {
		t.Fatalf("the last event before the submission is sent again: got %s, want %s", got, want)
	}
	h.Publish(pipetest.Submission(id, pipetest.ValidFields("Mario")), nil)
	waitSubmissionsAcked(t, h)
	evs := h.Events(id)
	if got, want := lastEventID(evs), publisher.StatusAfterReplayEventID(pipetest.Tenant, id, 1, publisher.StateSubmitted, replayed); got != want {
		t.Errorf("the last event: got %s, want %s; events %v", got, want, eventIDs(evs))
	}
}

// refused fails every status event of state: the tracker never gets it out.
type refused struct {
	tracking.Events
	state string
}

func (e *refused) Status(ctx context.Context, s publisher.Status) error {
	if s.State == e.state {
		return errors.New("the " + e.state + " event was not published")
	}
	return e.Events.Status(ctx, s)
}

// waitSubmissionsAcked waits until the pipeline acknowledged every message
// of the submissions stream: it acknowledges after its announcement is out.
func waitSubmissionsAcked(t *testing.T, h *trackHarness) {
	t.Helper()
	ctx := context.Background()
	var state string
	pipetest.WaitExplained(t, 10*time.Second, "the pipeline to acknowledge every submission", func() bool {
		si, err := h.Res.Submissions.Info(ctx)
		if err != nil {
			state = err.Error()
			return false
		}
		ci, err := h.Res.Consumer.Info(ctx)
		if err != nil {
			state = err.Error()
			return false
		}
		state = fmt.Sprintf("last seq %d, ack floor %d, ack pending %d, pending %d", si.State.LastSeq, ci.AckFloor.Stream, ci.NumAckPending, ci.NumPending)
		return ci.AckFloor.Stream >= si.State.LastSeq && ci.NumAckPending == 0 && ci.NumPending == 0
	}, func() string { return state })
}
