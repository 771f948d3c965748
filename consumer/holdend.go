package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// unreleasableError: a held submission's message is larger than a
// submission may now be. The submissions stream's size limit was lowered
// (by an operator, or a replica that started with a smaller max_payload)
// while it was held: the stream would refuse its release, or the pipeline
// reject it as too large, on every try.
type unreleasableError struct{ err error }

func (e *unreleasableError) Error() string { return e.err.Error() }
func (e *unreleasableError) Unwrap() error { return e.err }

// fitsRelease returns an *unreleasableError when a held message of size
// bytes is larger than a submission may be. refused is the stream's
// refusal of the release (a message over its MaxMsgSize), nil before it is
// published: the limit is then read again first, and the refusal is
// returned when the limit read says the message fits (it was raised again
// meanwhile: the next try may pass).
func (p *Pipeline) fitsRelease(ctx context.Context, size int, refused error) error {
	if refused != nil {
		if _, err := p.d.Resources.RefreshMaxSubmissionBytes(ctx); err != nil {
			return fmt.Errorf("%w; then: %w", refused, err)
		}
	}
	limit, over, err := p.overLimit(ctx, size)
	switch {
	case err != nil:
		return err
	case over:
		return &unreleasableError{fmt.Errorf("the submissions stream's size limit was lowered while it was held: %w", errTooLarge(size, limit))}
	}
	return refused
}

// endHold fails a held submission that cannot be released, with reason:
// malformed when its message is too large to be released (cause, an
// *unreleasableError), as the pipeline rejects a message too large;
// expired when it is past the maximum age and the stream refuses its
// release (its tenant at its quota) or its message is gone from the
// stream, as the pipeline expires a held submission whose release it
// gets. Either way with a dead letter of its message (when it is still
// there) and a failed event. Nothing was sent for it (a hold comes before any POST
// and clears the record's lease): nothing was spent. A reservation may be
// held all the same: a release's delivery that reserved and stopped before
// its POST (the wallet empty, transient trouble) leaves the record held,
// its lease given up, and the reservation for the next delivery. It is
// given back once the record says failed (giveBack). The record is failed
// only from the revision held was read at and while no delivery has it (no
// live lease, and no ended one of a POST in doubt: an ended Unsent one sent
// nothing): a release stored earlier and delivered later finds it failed and
// sends nothing, and one that took the record over first ends it itself.
// keyRev is the hold key's revision read. sent is true once the hold is gone.
func (p *Pipeline) endHold(ctx context.Context, key string, keyRev uint64, held *record.Record, rev uint64, he holdEntry, reason string, cause error) (sent bool, err error) {
	if pa := held.Pending; pa != nil && (p.cfg.Now().Before(pa.Until) || !pa.Unsent) {
		// A delivery has it, or a POST may be in doubt: a delivery decides.
		p.log.Debug().Str("tenant", held.Tenant).Str("submission", held.ID).
			Msg("held submission cannot be released, but a delivery has it: left to it")
		return false, nil
	}
	// An ended Unsent lease's holder sent nothing, and may have no message
	// left to come back with (its release gone from the stream): left to
	// it, the hold stayed for ever. The POST it counted goes.
	j := &job{tenant: held.Tenant, rec: held, rev: rev, precounted: held.Pending != nil}
	if o := p.fail(ctx, j, reason, cause); o.Kind != Failed {
		return false, o.Err
	}
	p.giveBack(ctx, held.Tenant, held.ID)
	return p.announceEndedHold(ctx, key, keyRev, j.rec, he)
}

// giveBack gives back the reservation an earlier delivery of a submission
// endHold failed left held. No delivery can spend it now: one must take
// the record over, by compare-and-set, before its POST, and finds it
// failed; and nobody can replay it yet (its dead letter comes after). Not
// given back (a lookup or a release that fails, a pass that stops first),
// it stays counted until its day ends: the count errs high, never low.
func (p *Pipeline) giveBack(ctx context.Context, tenant, id string) {
	l, ok := p.d.Budget.(reservationLookup)
	if !ok {
		return
	}
	ctx = context.WithoutCancel(ctx)
	res, held, err := l.Lookup(ctx, tenant, id, p.cfg.Now())
	if err == nil && held {
		err = p.d.Budget.Release(ctx, res)
	}
	if err != nil {
		p.log.Warn().Err(err).Str("tenant", tenant).Str("submission", id).Msg("cannot give a reservation back")
	}
}

// announceEndedHold stores the dead letter and publishes the failed event
// of a hold endHold ended (rec, failed), then removes its key, as read
// (keyRev: a replay held again meanwhile has the same key). Both are
// stored once whatever the retries (the dead letter's id and the event's
// are the record generation's): a pass that stopped after failing the
// record and before removing the key is finished by the next. A held
// message gone from the submissions stream (aged out, deleted by a quota
// lowered under it, or by an operator; or another message at its sequence,
// heldMessage) cannot be dead-lettered, as one
// that exhausted its deliveries (advisory.go): an error line says so, and
// its failed event still goes, and its key, so that the tenant's next
// holds are not queued behind it for ever.
func (p *Pipeline) announceEndedHold(ctx context.Context, key string, keyRev uint64, rec *record.Record, he holdEntry) (sent bool, err error) {
	raw, gone, err := p.heldMessage(ctx, rec, he)
	if err != nil {
		return false, err
	}
	o := Outcome{Kind: Failed, Reason: rec.Reason, Record: rec, Event: rec.Status(record.StateFailed), Err: errors.New(rec.Reason)}
	if len(rec.Errors) > 0 {
		o.Err = errors.New(rec.Errors[0].Message)
	}
	var published time.Time
	if !gone {
		if err := p.deadLetterEndedHold(ctx, rec, he, raw, o); err != nil {
			return false, err
		}
		published = raw.Time
	}
	if err := p.d.Events.Status(ctx, *o.Event); err != nil {
		return false, fmt.Errorf("failed event: %w", err)
	}
	// Erased meanwhile? (erased.go)
	if err := p.withdrawIfErased(ctx, rec, endedHoldLetterID(rec), published); err != nil {
		return false, err
	}
	removed, err := p.removeKey(ctx, key, keyRev)
	if err != nil {
		return false, err
	}
	if gone {
		p.log.Error().Str("outcome", Failed.String()).Str("tenant", rec.Tenant).Str("submission", rec.ID).
			Int("generation", rec.Generation).Str("reason", rec.Reason).Uint64("stream_seq", he.Seq).
			Str("error", truncate(o.Err.Error(), maxLoggedError)).
			Msg("held submission cannot be released: failed, and its message is gone from the stream: cannot dead-letter it")
		return removed, nil
	}
	p.log.Warn().Str("outcome", Failed.String()).Str("tenant", rec.Tenant).Str("submission", rec.ID).
		Int("generation", rec.Generation).Str("reason", rec.Reason).Str("error", truncate(o.Err.Error(), maxLoggedError)).
		Msg("held submission cannot be released: failed")
	return removed, nil
}

// deadLetterEndedHold stores the dead letter of a hold endHold ended: its
// held message raw, under the record generation's id.
func (p *Pipeline) deadLetterEndedHold(ctx context.Context, rec *record.Record, he holdEntry, raw *jetstream.RawStreamMsg, o Outcome) error {
	j := &job{tenant: rec.Tenant, meta: &jetstream.MsgMetadata{Stream: p.lay.SubmissionsStream(), NumDelivered: 1,
		Sequence: jetstream.SequencePair{Stream: he.Seq}, Timestamp: raw.Time}}
	var err error
	if j.sub, err = DecodeSubmission(raw.Data); err != nil {
		j.peeked = &rec.ID // decoded when it was held; the record names it anyway
	}
	dl := p.deadLetterOf(j, he.Subject, o)
	return dlq.Publish(ctx, p.d.Publisher, p.lay, dl, raw.Data, endedHoldLetterID(rec))
}

// endedHoldLetterID is the Nats-Msg-Id of the dead letter of a hold
// endHold ended, rec failed: the record generation's.
func endedHoldLetterID(rec *record.Record) string {
	return dlq.MsgIDAfterReplay(rec.Tenant, rec.ID, rec.Generation, rec.Reason, 0)
}
