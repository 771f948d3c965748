package tracking

import (
	"context"
	"errors"
	"fmt"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// giveUp ends tracking of a request that never finished, or whose final
// document could not be stored: the record, then the dead letter (the
// task) and the failed event. named is the dead letter an unverified
// replay header of the task names (unverifiedReplay), 0 for none.
func (t *Tracker) giveUp(ctx context.Context, rec *record.Record, rev uint64, meta *jetstream.MsgMetadata, payload []byte, named uint64) trackOutcome {
	now := t.cfg.Now()
	next := rec.Clone()
	next.To(record.StateFailed, now, dlq.ReasonGaveUp)
	next.Reason = dlq.ReasonGaveUp
	msg := fmt.Sprintf("the upstream request did not finish within %s", t.cfg.MaxAge)
	if awaitsFinalDocument(rec) {
		// completed waits for the final document: say why it never came.
		msg = fmt.Sprintf("the upstream request was fulfilled (Visura evasa), but its final document could not be downloaded and stored within %s", t.cfg.MaxAge)
	}
	next.Errors = []publisher.Problem{{Code: dlq.ReasonGaveUp, Message: msg}}
	next.FailedAt(now)
	// The record first: a callback that completed the request meanwhile wins
	// the compare-and-set, and nothing contradicting it is published.
	if _, err := t.store.Update(ctx, next, rev); err != nil {
		return trackOutcome{Err: fmt.Errorf("record gave_up: %w", err)}
	}
	if err := t.announceGiveUp(ctx, next, meta, payload, named); err != nil {
		return trackOutcome{Err: err} // the task comes back and announces again (deduplicated)
	}
	return trackOutcome{Final: true}
}

// rewriteAfterLetter writes rec (at rev) again, changed only in Updated,
// once the gave_up dead letter of a give-up announced late is stored: its
// task came back after a crash, or after the dead-letter stream refused
// the letter, maybe for days. The record scrub counts from the record's
// last write (ISEED_RECORD_SCRUB_AFTER: at least the letters' retention
// and a day), and a letter stored long after it could still be replayed
// once the record is scrubbed, reopening tracking that would then end
// without the record's metadata and person key. Written again after its
// letter, the record outlives it. A change made meanwhile (an override)
// is a later write already.
func (t *Tracker) rewriteAfterLetter(ctx context.Context, rec *record.Record, rev uint64) error {
	next := rec.Clone()
	next.Updated = t.cfg.Now()
	if _, err := t.store.Update(ctx, next, rev); err != nil && !errors.Is(err, record.ErrRevision) {
		return fmt.Errorf("record gave_up again after its dead letter: %w", err)
	}
	return nil
}

// announceGiveUp stores the dead letter and publishes the failed event of
// a request tracking gave up on; both are deduplicated by id.
func (t *Tracker) announceGiveUp(ctx context.Context, rec *record.Record, meta *jetstream.MsgMetadata, payload []byte, named uint64) error {
	l := t.lay
	now := t.cfg.Now()
	msg := ""
	if len(rec.Errors) > 0 {
		msg = rec.Errors[0].Message
	}
	dl := dlq.DeadLetter{OriginalSubject: l.TrackSubject(rec.Tenant, rec.ID), StreamSeq: meta.Sequence.Stream,
		Tenant: rec.Tenant, SubmissionID: rec.ID, Reason: dlq.ReasonGaveUp, Error: msg, Attempts: rec.Attempts,
		Deliveries: meta.NumDelivered, Generation: max(rec.Generation, 1), FirstFailure: rec.FirstFailure, LastFailure: now}
	replayed := named // a replay taken as an ordinary task, its signature not holding: one letter per letter named
	if replayed == 0 {
		// Reopened by a replay, tracking keeps the generation: the
		// replayed letter had this id.
		replayed = lastReplay(rec)
	}
	msgID := dlq.MsgIDAfterReplay(rec.Tenant, rec.ID, dl.Generation, dlq.ReasonGaveUp, replayed)
	if err := dlq.Publish(ctx, t.d.Publisher, l, dl, payload, msgID); err != nil {
		return err
	}
	// A completion may have overridden the give-up while the letter was on
	// its way (catchUp), and removed the letters it found before this one
	// was stored: read the record again, from the leader, and withdraw the
	// letter if it is completed. A crash before that leaves the letter,
	// and the task, which comes back to a completed record and withdraws
	// it then (pollRecord).
	if err := t.withdrawIfOverridden(ctx, rec.Tenant, rec.ID); err != nil {
		return err
	}
	return t.d.Events.Status(ctx, giveUpStatus(rec))
}

// giveUpStatus is the failed event of a record tracking gave up on. Like
// its dead letter, it has an id of its own when a replay reopened the
// record (the last replay's): tracking reopens in the same generation, and
// a give-up after the reopen must not be deduplicated with the one before.
func giveUpStatus(rec *record.Record) publisher.Status {
	s := *rec.Status(record.StateFailed)
	if seq := lastReplay(rec); seq != 0 {
		s.EventID = publisher.GiveUpAfterReplayEventID(rec.Tenant, rec.ID, rec.Generation, seq)
	}
	return s
}
