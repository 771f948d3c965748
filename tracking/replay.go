package tracking

import (
	"context"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// Replaying a gave_up dead letter (iseed dlq replay) republishes its
// tracking task. The task reopens tracking of a record that failed with
// gave_up, once per dead letter (record.Record.Replays): the record goes
// back to the last state it had before failing, that state is announced
// again, and ISEED_TRACK_MAX_AGE counts again from the replay. Tracking
// reopens in the same generation, so the status events it publishes from
// then on have the last replay's sequence in their ids (trackedStatus).
// Replaying any other tracking dead letter finds a closed record and is
// acknowledged without effect.

// replayOf returns the dead-letter sequence a replayed task names (its
// signature checked with the replay key), or 0 for an ordinary task.
func (t *Tracker) replayOf(msg jetstream.Msg) uint64 {
	v := msg.Headers().Get(dlq.ReplayHeader)
	if v == "" {
		return 0
	}
	seq, ok := dlq.VerifyReplay(t.cfg.ReplayKey, v, msg.Subject(), msg.Data())
	if !ok {
		return 0
	}
	return seq
}

// unverifiedReplay returns the dead letter a task's replay header names
// when its signature does not hold (forged, or signed with a key the
// tracker does not hold: rotated since); 0 otherwise. The task is an
// ordinary one, but that letter may be gone, removed by the replay command.
func (t *Tracker) unverifiedReplay(msg jetstream.Msg) uint64 {
	v := msg.Headers().Get(dlq.ReplayHeader)
	if v == "" || t.replayOf(msg) != 0 {
		return 0
	}
	return dlq.ReplaySeq(v)
}

// reopenable reports whether a replayed task (seq is its dead letter's
// sequence, 0 for an ordinary task) reopens rec.
func reopenable(rec *record.Record, seq uint64) bool {
	return seq != 0 && rec.State == record.StateFailed && rec.Reason == dlq.ReasonGaveUp && !rec.Replayed(seq)
}

// reopen puts a gave_up record back in its last tracked state, and
// announces it (announceReopen). The record first: a completion that
// overrides the give-up meanwhile wins the compare-and-set, and nothing
// contradicting it is published.
func (t *Tracker) reopen(ctx context.Context, rec *record.Record, rev uint64, seq uint64) (*record.Record, uint64, error) {
	now := t.cfg.Now()
	next := rec.Clone()
	next.To(lastTracked(rec), now, fmt.Sprintf("replay of dead letter %d", seq))
	next.AddReplay(seq, now)
	next.Reason, next.Errors = "", nil
	n, err := t.store.Update(ctx, next, rev)
	if err != nil {
		return nil, 0, fmt.Errorf("reopen after replay: %w", err)
	}
	if err := t.announceReopen(ctx, next); err != nil {
		return nil, 0, err
	}
	return next, n, nil
}

// announceReopen publishes the state a replay reopened rec in, with the
// replay's id, while rec is still in it (record.Record.Reopened); nothing
// otherwise. The states announced before the give-up have their plain ids,
// and without it the submission's last status event would stay failed
// until the upstream moves on. A catch-up of a record still in that state
// publishes it again before the states it moves on to (deduplicated by
// id): the reopen's own event may come late (its record write came first,
// and a callback's catch-up may follow it at once), or never (a crash
// between the two), and must not come after them.
func (t *Tracker) announceReopen(ctx context.Context, rec *record.Record) error {
	if !rec.Reopened() {
		return nil
	}
	s := trackedStatus(rec, rec.State, &visengine.Richiesta{StatoRichiesta: rec.StatoRichiesta})
	if err := t.d.Events.Status(ctx, s); err != nil {
		return fmt.Errorf("announce the reopen after replay: %w", err)
	}
	return nil
}

// lastReplay is the sequence of the dead letter whose replay last reopened
// rec, 0 when none did.
func lastReplay(rec *record.Record) uint64 {
	if n := len(rec.Replays); n > 0 {
		return rec.Replays[n-1].Seq
	}
	return 0
}

// lastTracked is the last open state a record that failed was tracked in.
func lastTracked(rec *record.Record) string {
	for i := len(rec.Timeline) - 1; i >= 0; i-- {
		if s := rec.Timeline[i].State; s != record.StateFailed && s != record.StateOverdue && rank(s) >= rank(record.StateSubmitted) && rank(s) < rank(record.StateCompleted) {
			return s
		}
	}
	return record.StateSubmitted
}

// trackedSince is when the current tracking began: the upstream request's
// creation, or the last replay that reopened it.
func trackedSince(r *record.Record) time.Time {
	since := r.SubmittedAt()
	if last := r.LastReplay(); last.After(since) {
		return last
	}
	return since
}
