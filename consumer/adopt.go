package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// adopt records the upstream request as the submission's: first in the
// request index (so a reconcile after a crash finds it), then in the record.
func (p *Pipeline) adopt(ctx context.Context, j *job, r *visengine.Richiesta, note string) Outcome {
	work := ctx
	ctx = context.WithoutCancel(ctx) // the request exists: record it even during shutdown
	if err := p.indexKnown(ctx, work, j, r.ID, sourceOf(note) == ledger.SourceReconciled); err != nil {
		if note == "" && errors.Is(err, errTaken) {
			return p.duplicate(ctx, j, r.ID)
		}
		return p.retry(err, 0)
	}
	callback := p.promised(j, r, note)
	if note != "" {
		// A request an earlier POST created: the reservation that POST was
		// sent under is committed with it (spent), also when this
		// delivery's Reserve did not return it: a pause refuses before
		// Reserve looks for the submission's own, and reconciliation goes
		// on whatever the caps say. Not taken up, it stayed held, in
		// flight, until its month ended.
		p.heldReservation(ctx, j)
	}
	for {
		if j.rec.RequestID != "" {
			// Adopted meanwhile by another delivery, and perhaps tracked
			// on since: keepAnswered, refused by a record that moved, read
			// it again while the index was being written. Written from
			// that copy, the record would go back to submitted.
			return p.announceExisting(j)
		}
		next := *j.rec
		next.To(record.StateSubmitted, p.cfg.Now(), note)
		next.RequestID = r.ID
		next.StatoRichiesta = record.Stato(r.StatoRichiesta)
		next.Callback = &callback
		next.Pending = nil
		// A late answer after the record was failed (max deliveries,
		// expired) is still the truth: the request exists and is tracked.
		next.Reason, next.Errors, next.UpstreamMessage = "", nil, ""
		next.Charge = p.charge(j, r, sourceOf(note))
		fillService(&next, j, r)
		if j.res != nil {
			next.Reserved = &record.Reserved{Amount: j.res.Amount, Day: j.res.Day}
		}
		rev, err := p.store.Update(ctx, &next, j.rev)
		if errors.Is(err, record.ErrRevision) {
			if j.rec, j.rev, err = p.store.Get(ctx, j.tenant, j.sub.ID); err != nil {
				return p.retry(err, 0)
			}
			continue
		}
		if err != nil {
			return p.retry(fmt.Errorf("record request %s: %w", r.ID, err), 0)
		}
		j.rec, j.rev = &next, rev
		p.d.Metrics.spent(next.Tenant, next.Service, next.Charge.Total)
		if j.meta != nil {
			p.d.Metrics.waited(p.cfg.Now().Sub(j.meta.Timestamp))
		}
		return p.announceExisting(j)
	}
}

// promised reports whether the POST that created r carried callback_data
// (record.Record.Callback), as far as the job can tell. Posted (note ""):
// this delivery's POST got r back, and says. Otherwise r is the answer an
// earlier POST got and kept (answeredBefore), or reconciliation found it
// (an operator's audit adopt included): promised when every POST of the
// pending attempt carried the marker (record.Attempt.Marked), whichever
// created r, or when the upstream shows this submission's marker on r (it
// calls back where that says). Anything else is not promised: news of it
// never counts toward distrusting callbacks (tracking), the safe side.
func (p *Pipeline) promised(j *job, r *visengine.Richiesta, note string) bool {
	if note == "" {
		return j.called
	}
	if pa := j.rec.Pending; pa != nil && pa.Marked {
		return true
	}
	return p.marker(j, r) == ours
}

// indexKnown indexes a request this job knows to be its own (the POST's
// answer, or one reconciliation proved). Until the index holds it, the id
// exists only in this process: a redelivery can only reconcile, and
// reconciliation cannot prove a request that neither the index nor a
// callback marker names. A transient failure (a stream leader failing
// over, a partition, this process cut off from NATS) is therefore retried
// here, the message kept in progress, for AdoptGrace, past the lease and
// the in-process budget: reconciliation elsewhere waits as long for an
// unproven candidate to be claimed before it calls it ambiguous. Waits
// between tries end when work does (the shutdown timeout has passed).
// From the first failure the id is also kept in the record (keepAnswered),
// so that it outlives this worker: the next delivery adopts it.
func (p *Pipeline) indexKnown(ctx, work context.Context, j *job, id string, reconciled bool) error {
	b := newBackOff(0) // bounded by end
	end := p.cfg.Now().Add(p.cfg.AdoptGrace)
	kept := false
	for {
		err := p.index(ctx, j, id)
		if err == nil || errors.Is(err, errTaken) {
			return err
		}
		if !kept {
			kept = p.keepAnswered(ctx, j, id, reconciled)
		}
		d := b.NextBackOff()
		if p.cfg.Now().Add(d).After(end) {
			if kept {
				return fmt.Errorf("%w; the record keeps the request id: the next delivery adopts it", err)
			}
			return err
		}
		p.rare.Warn().Str("tenant", j.tenant).Str("submission", j.sub.ID).Str("request_id", id).Str("error", err.Error()).
			Msg("the upstream request exists but the request index cannot be written yet: retrying")
		if !p.sleepInProgress(work, j, d) {
			return err
		}
	}
}

// duplicate ends a job whose POST was answered with requestID, a request
// the index gives to another submission: an upstream that took this
// submission for a duplicate of that one (same person, same data) and
// created nothing. Handed back, the job would reconcile (the request is
// not its own), POST again for the same answer, and so on until the
// maximum deliveries or age. It fails instead, dead-lettered
// upstream_duplicate, nothing charged; the owner is not named (it may be
// another tenant's submission), the request id only in the log.
func (p *Pipeline) duplicate(ctx context.Context, j *job, requestID string) Outcome {
	j.unsure = false // the answer says what the POST made: nothing of this submission's
	p.log.Warn().Str("tenant", j.tenant).Str("submission", j.sub.ID).Str("request_id", requestID).
		Msg("the upstream answered the POST with another submission's request: failed as upstream_duplicate, not sent again")
	return p.fail(ctx, j, dlq.ReasonUpstreamDuplicate, errors.New("Visengine answered the POST with a request that belongs to another submission: "+
		"it took this one for a duplicate and created nothing, and nothing was charged for it; if it is a request of its own, change it (iseed dlq replay --edit)"))
}

// errTaken means another submission adopted the request first.
var errTaken = errors.New("the upstream request belongs to another submission")

// index claims an upstream request id for the job's submission in the
// request index. A request another submission claimed first is not ours:
// the job stays unsure and the next reconciliation skips it.
func (p *Pipeline) index(ctx context.Context, j *job, id string) error {
	owner, err := p.indexFor(ctx, j.key(), id)
	if err != nil {
		return err
	}
	if owner != j.key() {
		j.unsure = true
		return fmt.Errorf("index request %s: %w (%s)", id, errTaken, owner)
	}
	return nil
}

// indexFor writes the request index entry that gives request id to the
// submission key, unless one exists; it returns the submission the entry
// names (key, or another when it was taken before). An entry the create
// found but the leader's read does not is an error, not another's: a
// create whose answer was lost (a partition) stored it, and a leader
// elected since answered the read before it had applied it. Taken for
// another submission's, the request was failed upstream_duplicate beside
// its own paid request (the chaos suite's minority partition, 2026-12-07).
func (p *Pipeline) indexFor(ctx context.Context, key, id string) (owner string, err error) {
	_, err = p.d.Resources.Requests.Create(ctx, record.IndexKey(id), []byte(key))
	if errors.Is(err, jetstream.ErrKeyExists) {
		owner, err = p.requestOwner(ctx, id)
		if err == nil && owner == "" {
			err = fmt.Errorf("index request %s: the entry exists, but the leader's read does not have it yet", id)
		}
		return owner, err
	}
	if err != nil {
		return "", fmt.Errorf("index request %s: %w", id, err)
	}
	return key, nil
}

// fail ends a claimed submission: the record says failed with the reason,
// and the outcome dead-letters the message and announces the failure.
func (p *Pipeline) fail(ctx context.Context, j *job, reason string, cause error) Outcome {
	ctx = context.WithoutCancel(ctx)
	now := p.cfg.Now()
	next := *j.rec
	next.To(record.StateFailed, now, reason)
	next.Reason = reason
	next.Errors = []publisher.Problem{{Code: reason, Message: cause.Error()}}
	next.UpstreamMessage = upstreamMessage(cause)
	next.FailedAt(now)
	if reason != dlq.ReasonAmbiguous {
		next.Pending = nil
	}
	j.uncount(&next)
	rev, err := p.store.Update(ctx, &next, j.rev)
	if err != nil {
		return p.retry(fmt.Errorf("record failure: %w", err), 0)
	}
	j.rec, j.rev = &next, rev
	if reason != dlq.ReasonAmbiguous {
		// Nothing was created: the money was not spent. Given back only
		// once the record says so on the revision this delivery held: one
		// whose lease ran out meanwhile lost the submission to another,
		// which may be spending this very reservation.
		p.releaseReservation(ctx, j)
	}
	return Outcome{Kind: Failed, Reason: reason, Err: cause, Record: j.rec, Event: j.rec.Status(record.StateFailed)}
}

// upstreamMessage is the upstream's own message of err, a failed call to
// it, cut as a record keeps it (record.Record.UpstreamMessage); "" when
// err is no such failure, or the upstream gave none.
func upstreamMessage(err error) string {
	var ve *visengine.Error
	if !errors.As(err, &ve) {
		return ""
	}
	return record.Cut(ve.UpstreamMessage(), record.MaxUpstreamMessage)
}

// keepAnswered writes the request id the job's POST got back into the
// record's pending attempt (record.Attempt.Answered) while the request
// index cannot be written: the records bucket may take a write the index
// does not, and a worker that gives up (AdoptGrace), crashes or stops
// would otherwise take the only copy of the id with it. On a record
// another delivery moved meanwhile it is written there, once that record
// still names no request: it is a fact about the submission, whoever holds
// the lease. reconciled says reconciliation found the id (not a POST's
// answer). It reports whether the record holds the id.
func (p *Pipeline) keepAnswered(ctx context.Context, j *job, id string, reconciled bool) bool {
	for {
		rec := j.rec
		switch {
		case rec.RequestID != "" || rec.Fingerprint != j.sub.Fingerprint():
			return false // adopted meanwhile (adopt decides), or another payload's record
		case rec.Pending != nil && rec.Pending.Answered == id:
			return true
		}
		next := *rec
		pa := record.Attempt{Started: p.cfg.Now(), Owner: j.owner, Until: p.cfg.Now(), Seq: j.seq()}
		if rec.Pending != nil {
			pa = *rec.Pending
		}
		pa.Answered, pa.Reconciled, pa.Unsent = id, reconciled, false
		next.Pending = &pa
		rev, err := p.store.Update(ctx, &next, j.rev)
		if errors.Is(err, record.ErrRevision) {
			if j.rec, j.rev, err = p.store.Get(ctx, j.tenant, j.sub.ID); err != nil {
				return false
			}
			continue
		}
		if err != nil {
			return false // tried again with the index
		}
		j.rec, j.rev = &next, rev
		return true
	}
}

// answeredBefore adopts the request an earlier POST of the submission got
// back and could not index (record.Record.Answered), once no other
// delivery holds the record: it is the submission's, whatever the caps,
// the schema or the message's age say now, and nothing may be sent again.
// done is false when the record keeps no such id, or another delivery's
// live lease covers it (the caller finds that out). An index entry that
// gives the request to another owner (an operator's audit adopt or disown)
// wins: the id is dropped, and the next delivery reconciles as before.
func (p *Pipeline) answeredBefore(ctx context.Context, j *job, now time.Time) (Outcome, bool) {
	rec := j.rec
	id := rec.Answered()
	if id == "" || rec.Fingerprint != j.sub.Fingerprint() {
		return Outcome{}, false
	}
	if rec.State != record.StateFailed && rec.Pending.Owner != j.owner && now.Before(rec.Pending.Until) {
		return Outcome{}, false // its holder may still be writing the index
	}
	owner, err := p.requestOwner(ctx, id)
	if err != nil {
		return p.retry(err, 0), true
	}
	if owner != "" && owner != j.key() {
		next := *rec
		pa := *rec.Pending
		pa.Answered, pa.Reconciled = "", false
		next.Pending = &pa
		if _, err := p.store.Update(ctx, &next, j.rev); err != nil && !errors.Is(err, record.ErrRevision) {
			return p.retry(fmt.Errorf("drop request %s, which the index gives to %s: %w", id, owner, err), 0), true
		}
		return Outcome{Kind: Busy, Delay: p.cfg.Retry.MinDelay, Record: rec}, true
	}
	if j.svc == nil && rec.ServiceHash != "" {
		// expire: the service could not be resolved. Its options are
		// priced from it (charge): adopted without, the request would be
		// entered for less than it cost, for good. One the catalog no
		// longer has cannot price them however long it waits.
		svc, err := p.d.Schemas.Service(ctx, rec.ServiceHash)
		if err != nil && !errors.Is(err, schema.ErrUnknownService) {
			return p.retry(fmt.Errorf("resolve the service of request %s, which an earlier POST got back: %w", id, err), 0), true
		}
		j.svc = svc
	}
	if err := p.d.Limiter.Wait(ctx); err != nil {
		return p.retry(err, 0), true
	}
	r, err := p.d.Upstream.Richiesta(ctx, id)
	if c := visengine.ClassOf(err); c == visengine.ClassNotFound || c == visengine.ClassPermanent {
		// The upstream does not know the id its own answer named: no
		// delivery can adopt it, and nothing may be sent in its place.
		// Retried, it would be read again on every delivery, and a replay
		// would start over: a person decides, the id still kept.
		j.spent = j.spent || p.replayable(j)
		return p.fail(ctx, j, dlq.ReasonAmbiguous, fmt.Errorf("%w: the upstream does not know request %s, which an earlier POST got back: %w",
			errAmbiguous, id, err)), true
	}
	if err != nil {
		return p.retry(fmt.Errorf("read request %s, which an earlier POST got back: %w", id, err), 0), true
	}
	if !rec.Scrubbed.IsZero() {
		// Open again, it gets the payload's metadata and person key back,
		// as a replay that reopens a scrubbed record does (reopen).
		fresh, next := p.newRecord(j, now), rec.Clone()
		next.PersonKey, next.Metadata, next.Scrubbed = fresh.PersonKey, fresh.Metadata, time.Time{}
		j.rec = next // written by adopt, on the revision read
	}
	note := "answered"
	if rec.Pending.Reconciled {
		note = "reconciled, kept" // sourceOf: entered as reconciled
	}
	return p.adopt(ctx, j, r, note), true
}
