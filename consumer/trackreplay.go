package consumer

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Replaying a gave_up dead letter (iseed dlq replay) republishes its
// tracking task. The task reopens tracking of a record that failed with
// gave_up, once per dead letter: the record goes back to the last state it
// had before failing, and ISEED_TRACK_MAX_AGE counts again from the replay.
// Replaying any other tracking dead letter finds a closed record and is
// acknowledged without effect.

const replayNote = "replay of dead letter "

// reopenable reports whether a replayed task (seq is its dead letter's
// sequence, "" for an ordinary task) reopens rec.
func reopenable(rec *Record, seq string) bool {
	if seq == "" || rec.State != StateFailed || rec.Reason != ReasonGaveUp {
		return false
	}
	for _, t := range rec.Timeline {
		if t.Note == replayNote+seq {
			return false
		}
	}
	return true
}

// reopen puts a gave_up record back in its last tracked state.
func (t *RequestTracker) reopen(ctx context.Context, rec *Record, rev uint64, seq string) (*Record, uint64, error) {
	prev := StateSubmitted
	for i := len(rec.Timeline) - 1; i >= 0; i-- {
		if s := rec.Timeline[i].State; s != StateFailed && s != StateOverdue && rank(s) >= rank(StateSubmitted) && rank(s) < rank(StateCompleted) {
			prev = s
			break
		}
	}
	next := cloneRecord(rec)
	next.to(prev, t.cfg.Now(), replayNote+seq)
	next.Reason, next.Errors = "", nil
	n, err := t.store.Update(ctx, next, rev)
	if err != nil {
		return nil, 0, fmt.Errorf("reopen after replay: %w", err)
	}
	return next, n, nil
}

// trackedSince is when the current tracking began: the upstream request's
// creation, or the last replay of a gave_up dead letter.
func trackedSince(r *Record) time.Time {
	since := submittedAt(r)
	for i := len(r.Timeline) - 1; i >= 0; i-- {
		if strings.HasPrefix(r.Timeline[i].Note, replayNote) && r.Timeline[i].At.After(since) {
			return r.Timeline[i].At
		}
	}
	return since
}
