package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/workpool"
	"github.com/nats-io/nats.go/jetstream"
)

// maxDeliveriesAdvisory is the part of the server's
// io.nats.jetstream.advisory.v1.max_deliver advisory iseed reads.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries uint64 `json:"deliveries"`
}

// RunAdvisories dead-letters submissions that exhausted MaxDeliver without
// a decision (a crash loop, say), but for one that has its upstream
// request or whose record keeps the id an earlier POST got back: that one
// is finished, the id adopted, as a redelivery would (failUndecided).
// The server's advisories are kept in a stream, so none is lost while no
// replica runs. When the server says that stream or its consumer does not
// exist (an operator deleted it, a stream in memory after a NATS
// restart), it makes them again as a start does, at most once every
// advisoriesRecheck; the advisories published while they were gone are
// lost. It returns when ctx is done.
func (p *Pipeline) RunAdvisories(ctx context.Context) error {
	f := &advisoryFetcher{cons: p.d.Resources.Advisories}
	for ctx.Err() == nil {
		p.fetchAdvisories(ctx, f)
	}
	return nil
}

// advisoryFetcher is RunAdvisories's consumer, and when it last looked
// whether the consumer still exists.
type advisoryFetcher struct {
	cons    jetstream.Consumer
	checked time.Time
}

// advisoriesRecheck bounds how often a failing fetcher asks the server
// whether its consumer exists, and makes it again.
const advisoriesRecheck = 10 * time.Second

// fetchAdvisories waits up to a second for advisories and handles them. The
// wait ends with ctx: a stop does not wait for the pull to expire. A pull
// the server refuses at once (the consumer gone, no responders while
// JetStream restarts, a leader change) waits a second before the next, as
// one that cannot be sent: the next pull would be refused as fast, and the
// fetcher would hammer the server. A consumer gone is made again
// (ensureAdvisories).
func (p *Pipeline) fetchAdvisories(ctx context.Context, f *advisoryFetcher) {
	fctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	batch, err := f.cons.Fetch(8, jetstream.FetchContext(fctx))
	if err != nil {
		p.ensureAdvisories(ctx, f)
		workpool.Sleep(ctx, time.Second)
		return
	}
	for msg := range batch.Messages() {
		p.advisory(ctx, msg)
	}
	if err := batch.Error(); err != nil && fctx.Err() == nil {
		p.rare.Warn().Err(err).Msg("advisories: the pull failed; pulling again in a second")
		p.ensureAdvisories(ctx, f)
		workpool.Sleep(ctx, time.Second)
	}
}

// ensureAdvisories makes the advisories stream and consumer again when the
// server says either does not exist, at most once every
// advisoriesRecheck. Without a JetStream handle (unit tests) it does
// nothing.
func (p *Pipeline) ensureAdvisories(ctx context.Context, f *advisoryFetcher) {
	if p.d.Publisher == nil || ctx.Err() != nil || time.Since(f.checked) < advisoriesRecheck {
		return
	}
	f.checked = time.Now() // a rate bound only: the monotonic clock, not the injected one
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := f.cons.Info(ctx); !errors.Is(err, jetstream.ErrConsumerNotFound) && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return // there, or NATS unreachable: the pulls go on
	}
	cons, err := layout.EnsureAdvisories(ctx, p.d.Publisher, p.lay)
	if err != nil {
		p.log.Warn().Err(err).Dur("retry_in_ms", advisoriesRecheck).
			Msg("advisories: their stream or consumer is gone and cannot be made again: max-deliveries advisories are not handled meanwhile")
		return
	}
	f.cons = cons
	p.log.Warn().Msg("advisories: their stream or consumer was gone and is made again: the advisories published meanwhile are lost, their submissions not dead-lettered")
}

// advisory handles one advisory message and settles it. One that cannot be
// handled yet is retried as Decide retries a submission, with growing
// delays, for as many deliveries as the submission had (ISEED_MAX_DELIVER,
// which lasts at least ISEED_MAX_AGE): an error that never clears must not
// bring it back every few seconds for good. Then it is given up with an
// error line, for an operator; but not under another delivery's live
// lease (leaseLive).
func (p *Pipeline) advisory(ctx context.Context, msg jetstream.Msg) {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(msg.Data(), &adv); err != nil || adv.StreamSeq == 0 {
		_ = msg.Ack() // not an advisory iseed understands: drop it
		return
	}
	err := p.onMaxDeliveries(ctx, msg, adv)
	if err == nil {
		_ = msg.Ack()
		return
	}
	delivered := uint64(1)
	if meta, merr := msg.Metadata(); merr == nil {
		delivered = meta.NumDelivered
	}
	var live *leaseLive
	leased := errors.As(err, &live)
	// Shutdown is not a failure: it never uses up the last delivery. Nor
	// is another delivery's live lease: its holder is alive (it renews it
	// while it waits for its upstream token) and decides, or it dies and
	// the lease ends; given up, the submission would stay claimed, listed
	// nowhere.
	if ctx.Err() == nil && !leased && p.lay.MaxDeliver > 0 && delivered >= uint64(p.lay.MaxDeliver) {
		p.log.Error().Err(err).Uint64("stream_seq", adv.StreamSeq).Uint64("delivered", delivered).
			Msg("max-deliveries advisory given up after as many deliveries as a submission gets: the step that failed was never done")
		p.d.Metrics.advisoryGivenUp()
		_ = msg.Term()
		return
	}
	var after time.Duration
	if leased {
		after = live.left // not before the lease ends (underLease)
	}
	act := Decide(Outcome{Kind: Retry, Err: err, Delay: after}, delivered, p.cfg.Retry, jitter())
	p.log.Warn().Err(err).Uint64("stream_seq", adv.StreamSeq).Int64("retry_in_ms", act.Delay.Milliseconds()).
		Msg("max-deliveries advisory not handled yet; retrying")
	_ = msg.NakWithDelay(act.Delay)
}

// onMaxDeliveries settles the submission of msg, the advisory adv: its
// job has no message of its own (j.msg is nil); the advisory is kept in
// progress while the job waits (j.alive).
func (p *Pipeline) onMaxDeliveries(ctx context.Context, msg jetstream.Msg, adv maxDeliveriesAdvisory) error {
	raw, err := p.d.Resources.Submissions.GetMsg(ctx, adv.StreamSeq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		p.log.Error().Uint64("stream_seq", adv.StreamSeq).Msg("message exhausted its deliveries and is gone from the stream: cannot dead-letter it")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read message %d: %w", adv.StreamSeq, err)
	}
	if stale, err := p.stale(ctx, msg, raw); err != nil {
		return err
	} else if stale {
		p.log.Error().Uint64("stream_seq", adv.StreamSeq).
			Msg("message exhausted its deliveries and is gone from the stream, made anew since: cannot dead-letter it")
		return nil
	}
	j := &job{msg: nil, alive: msg, aliveWait: layout.AdvisoriesAckWait, meta: &jetstream.MsgMetadata{Stream: adv.Stream, NumDelivered: adv.Deliveries,
		Sequence: jetstream.SequencePair{Stream: adv.StreamSeq}, Timestamp: raw.Time}}
	j.tenant, _ = p.tenantOf(raw.Subject)
	var forged bool
	if j.replay, forged = p.replayOf(raw.Subject, raw.Header, raw.Data); forged {
		j.unverified = dlq.ReplaySeq(raw.Header.Get(dlq.ReplayHeader))
	}
	j.tenantAsked = p.tenantAskedOf(j.replay, raw.Subject, raw.Header, raw.Data)
	o := Outcome{Kind: Failed, Reason: dlq.ReasonMaxDeliveries,
		Err: fmt.Errorf("delivered %d times without a decision", adv.Deliveries)}
	if sub, err := DecodeSubmission(raw.Data); err == nil && j.tenant != "" {
		j.sub = sub
		if o, err = p.failUndecided(ctx, j, o, raw.Data); err != nil {
			return err
		}
		if o.Kind != Failed && o.Kind != Rejected {
			return nil // settled after all
		}
	}
	// Both ids are the same on every retry (the message's or the record
	// generation's, and the event's): a retry after a lost reply stores and
	// announces nothing twice.
	dl := p.deadLetterOf(j, raw.Subject, o)
	letterID := p.advisoryLetterID(j, adv, o)
	if err := dlq.Publish(ctx, p.d.Publisher, p.lay, dl, raw.Data, letterID); err != nil {
		return err
	}
	if o.Event != nil {
		if err := p.d.Events.Status(ctx, *o.Event); err != nil {
			return fmt.Errorf("failed event: %w", err)
		}
	}
	return p.withdrawIfErased(ctx, o.Record, letterID, raw.Time) // erased meanwhile? (erased.go)
}

// stale reports whether raw, the message at the sequence the advisory
// msg names, was stored after the advisory in a submissions stream made
// after it: not the message that ran out of deliveries but one of a
// stream made anew since (iseed serve makes it at start), numbered from 1
// again, maybe another tenant's submission, which the advisory would
// dead-letter and announce failed. Both times are asked, so that the
// clocks of a cluster's servers, which stamp them, cannot make the message
// of an advisory of the stream's own look stale: that stream was made
// long before any of its messages ran out of deliveries.
func (p *Pipeline) stale(ctx context.Context, msg jetstream.Msg, raw *jetstream.RawStreamMsg) (bool, error) {
	meta, err := msg.Metadata()
	if err != nil || !raw.Time.After(meta.Timestamp) {
		return false, nil
	}
	info, err := p.d.Resources.Submissions.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("submissions stream: %w", err)
	}
	return info.Created.After(meta.Timestamp), nil
}

// advisoryLetterID is the Nats-Msg-Id of the advisory's dead letter: the
// id a delivery gives the letter of the record (deadLetter), whatever the
// reason, so that each failure is one letter. The letter of a decision the
// last delivery may have stored (ambiguous, invalid, …, or a replay's
// refusal, j.spent) is not stored again; nor is the advisory's own
// max_deliveries letter when a message of the submission delivered after
// it (a release the hold loop stored before the hold ended, a duplicate)
// finds the record failed and dead-letters it again (failedAgain). It
// once had the message's id: that second letter was stored. A message
// without a record of its own (never claimed, another payload's, not a
// submission), the message's.
func (p *Pipeline) advisoryLetterID(j *job, adv maxDeliveriesAdvisory, o Outcome) string {
	if o.Record == nil || j.sub == nil || o.Record.Fingerprint != j.sub.Fingerprint() {
		return dlq.MsgIDOfMessage(adv.Stream, adv.StreamSeq)
	}
	return dlq.MsgIDAfterReplay(j.tenant, j.sub.ID, o.Record.Generation, o.Reason, j.replayed())
}

// failUndecided marks the record of an undecided submission failed. A
// submission that has its upstream request is finished instead, as the
// pipeline finishes one (finishRecorded), and so is one whose record keeps
// the id an earlier POST got back (adoptKept): that request is paid.
// One already decided (failed or rejected for its own reason), or a
// replay that did not reopen it, is finished as its next delivery would
// have (decidedBefore). A held one's hold is ended (failHeld). One never
// claimed gets a failed event of generation 0 about its message, whose
// payload is payload (failedBeforeRecord). An error
// (NATS trouble, a concurrent change) leaves the advisory to be retried,
// so that the record and the failed event are never skipped.
func (p *Pipeline) failUndecided(ctx context.Context, j *job, o Outcome, payload []byte) (Outcome, error) {
	rec, rev, err := p.store.Get(ctx, j.tenant, j.sub.ID)
	if errors.Is(err, record.ErrNotFound) {
		// Never claimed: the dead letter, and the event its producer
		// follows, of generation 0.
		o.Event = p.failedBeforeRecord(j.tenant, j.sub, payload, o.Reason, o.Err)
		return o, nil
	}
	if err != nil {
		return o, err
	}
	j.rec, j.rev = rec, rev
	ours := rec.Fingerprint == j.sub.Fingerprint()
	switch {
	case ours && rec.RequestID != "":
		return p.finishRecorded(ctx, j, rec)
	case rec.RequestID != "":
		return Outcome{Kind: Done}, nil // another payload's request: not this message's to finish
	case ours && rec.Answered() != "":
		return p.adoptKept(ctx, j, rec, rev)
	case ours && rec.State == record.StateHeld:
		return p.failHeld(ctx, j, rec, rev, o)
	case ours && rec.State == record.StateClaimed:
		if pa := rec.Pending; pa != nil && !pa.Unsent && p.cfg.Now().Before(pa.Until) {
			// Another delivery's (a duplicate of the message, a release),
			// which may be posting (its lease is not Unsent, and lasts at
			// most AckWait past its last POST): failed now, the submission
			// would get a failed event and a max_deliveries letter, then
			// the request that POST created (adopt records a late answer
			// over a failure), and the producer would read "failed", then
			// "submitted".
			return o, p.underLease(j, pa.Until)
		}
		return p.markFailed(ctx, j, rec, rev, o) // under an Unsent lease too: its holder's compare-and-set fails, nothing is sent
	case ours && (rec.State == record.StateFailed || rec.State == record.StateRejected) && (p.replayable(j) || p.withdrawnRefused(j)):
		j.spent = true // a replay that did not reopen it: as its refusal (decidedBefore)
		return p.decidedBefore(j), nil
	case ours && rec.State == record.StateFailed && rec.Reason == dlq.ReasonMaxDeliveries:
		// An earlier try of this advisory failed it (its reply may have been
		// lost) and may have stopped before the event: announce it again.
		o.Record, o.Event = rec, rec.Status(record.StateFailed)
		return o, nil
	case ours && (rec.State == record.StateFailed || rec.State == record.StateRejected):
		return p.decidedBefore(j), nil
	default:
		o.Record = rec
		return o, nil
	}
}

// underLease is the error of an advisory that finds another delivery's
// live lease, ending at until, on the job's record: the advisory is
// retried once the lease has ended and reads the record again. Not waited
// for here: a replica has one advisory worker, and the rest of its batch
// would wait out the lease too (up to AckWait, past the advisories' own
// 30 s ack wait). A lease still live then (renewed by a delivery waiting
// for its upstream token) defers it again.
func (p *Pipeline) underLease(j *job, until time.Time) *leaseLive {
	return &leaseLive{key: j.key(), left: min(until.Sub(p.cfg.Now()), p.lay.AckWait) + 10*time.Millisecond}
}

// leaseLive is underLease's error (failUndecided, failHeld, adoptKept):
// the advisory is retried no sooner than left, when the lease has ended
// (at most AckWait: a renewed lease is read again then), and never given
// up for it.
type leaseLive struct {
	key  string
	held bool   // the record is held (failHeld), not claimed
	kept string // the request id the record keeps (adoptKept)
	left time.Duration
}

func (e *leaseLive) Error() string {
	if e.kept != "" {
		return fmt.Sprintf("%s keeps request %s under another delivery's lease: adopted once it ends", e.key, e.kept)
	}
	if e.held {
		return fmt.Sprintf("%s is held under a delivery's lease: its hold ended once it ends, unless that delivery decides", e.key)
	}
	return fmt.Sprintf("%s is claimed under a delivery's lease: failed once it ends, unless that delivery decides", e.key)
}

// decidedBefore finishes a submission a delivery failed or rejected (not
// max_deliveries, unless a replay's) and could not finish: its dead
// letter, its event or its term failed, and the message had no delivery
// left. The decision stands
// and is finished as the next delivery would finish it (failedAgain,
// rejected): the dead letter of its own reason and its event, both under
// the ids that delivery used, so stored once. Not a second dead letter
// under max_deliveries: the submission was decided, and one list would
// hold two letters of it, a replay of either reopening it. Nor nothing: a
// delivery records its decision before it stores the dead letter (fail,
// reject, then finish), so the letter may be missing, and without it the
// failure would be listed nowhere, its event never published.
//
// A replay that has not reopened the record (replayable) either was
// refused (reopen, expire, answeredBefore: the record still fails, a
// person must decide) and stored the letter of that refusal under the
// replay's id (j.spent), or never got that far (a crash loop). The letter
// is the same either way: the record's own reason under the replay's id,
// stored once, and a letter of its own when the refusal's was never
// stored (the replayed letter, removed by the replay command, had another
// id). It once got a max_deliveries letter, under the message's id: a
// second letter of the submission after a refusal, a replay of either
// reopening it.
func (p *Pipeline) decidedBefore(j *job) Outcome {
	if j.rec.State == record.StateRejected {
		return p.rejected(j)
	}
	return p.failedAgain(j)
}

// adoptKept adopts the request id the record keeps (record.Record.Answered)
// as the message's next delivery would have (answeredBefore), and finishes
// it (finishRecorded): it was paid, and failed max_deliveries it would stay
// out of the ledger and untracked until an operator replayed the letter.
// Nothing is sent. An upstream that does not know the id fails it
// ambiguous, the id still kept (the outcome dead-letters and announces
// it). Whatever cannot be done now (NATS or upstream trouble, another
// delivery's live lease, the id dropped for the owner the index names) is
// an error: the advisory is retried, and reads the record again; under a
// live lease no sooner than it ends, and never given up for it
// (leaseLive): given up, the paid request would stay unadopted.
func (p *Pipeline) adoptKept(ctx context.Context, j *job, rec *record.Record, rev uint64) (Outcome, error) {
	j.rec, j.rev = rec, rev
	id := rec.Answered()
	o, done := p.answeredBefore(ctx, j, p.cfg.Now())
	switch {
	case !done:
		l := p.underLease(j, rec.Pending.Until)
		l.kept = id
		return o, l
	case o.Kind == Busy:
		return o, fmt.Errorf("%s kept request %s, which the request index gives to another submission: dropped", j.key(), id)
	case o.Kind == Failed:
		return o, nil
	case o.Kind != Done:
		return o, fmt.Errorf("adopt request %s, which %s keeps: %w", id, j.key(), o.Err)
	}
	return p.finishRecorded(ctx, j, j.rec)
}

// failHeld ends the hold of a held submission whose message ran out of
// deliveries: the delivery that held it could not publish its held event
// or lost its ack, or a release's (or a replay's) delivery took the record
// over and never decided it (a crash loop, the wallet empty). It fails
// max_deliveries as a claimed one (markFailed), gives back a reservation
// nothing can have been sent under (as endHold), and removes its hold key.
//
// Not left to its hold. The record cannot tell which of those it was (a
// release's delivery gives its lease up, and the record is held, without
// a lease, either way). The release's message id names the hold entry's
// revision, which a crash loop leaves as it was: sent again, it is
// dropped as a duplicate for the whole duplicate window (24 hours), the
// tenant's later holds queued behind it, and then the crash loop the
// advisory exists to end starts over. Left held with a max_deliveries
// letter, as before, it was sent (and paid) later under a letter that
// says it failed. Nothing was sent for it: failed, it waits for a replay
// of its letter, which goes through the caps again.
//
// A live lease is another delivery's (a release the hold loop sent since):
// it decides, and the advisory, retried no sooner than the lease ends and
// never given up for it (leaseLive), reads the record again.
func (p *Pipeline) failHeld(ctx context.Context, j *job, rec *record.Record, rev uint64, o Outcome) (Outcome, error) {
	if pa := rec.Pending; pa != nil && p.cfg.Now().Before(pa.Until) {
		l := p.underLease(j, pa.Until)
		l.held = true
		return o, l
	}
	o, err := p.markFailed(ctx, j, rec, rev, o)
	if err != nil {
		return o, err
	}
	if !rec.PostInDoubt() { // else the upstream may have charged: it stays counted
		p.giveBack(ctx, j.tenant, j.sub.ID)
	}
	// Failed, the record is never released (releaseHold removes the key of
	// one that left held): the key goes now so that the tenant's next
	// holds need not wait for a pass.
	if p.holds.kv != nil {
		if err := p.holds.kv.Delete(ctx, holdKey(j.tenant, j.sub.ID, rec.HeldSince)); err != nil {
			return o, fmt.Errorf("remove the hold key of %s: %w", j.key(), err)
		}
	}
	return o, nil
}

// markFailed records the max_deliveries failure of a claimed submission.
func (p *Pipeline) markFailed(ctx context.Context, j *job, rec *record.Record, rev uint64, o Outcome) (Outcome, error) {
	now := p.cfg.Now()
	next := rec.Clone()
	next.To(record.StateFailed, now, dlq.ReasonMaxDeliveries)
	next.Reason = dlq.ReasonMaxDeliveries
	next.Errors = []publisher.Problem{{Code: dlq.ReasonMaxDeliveries, Message: o.Err.Error()}}
	next.FailedAt(now)
	if pa := next.Pending; pa != nil && pa.Unsent {
		// Nothing was sent under it (its holder, if alive, cannot send
		// now: its compare-and-set fails): the count it carries goes.
		next.Pending = nil
		next.Attempts = max(next.Attempts-1, 0)
	}
	if _, err := p.store.Update(ctx, next, rev); err != nil {
		return o, fmt.Errorf("mark %s failed: %w", record.Key(j.tenant, j.sub.ID), err)
	}
	o.Record = next
	o.Event = next.Status(record.StateFailed)
	return o, nil
}

// finishRecorded does what finish does for a submission that has its
// upstream request (announce: the submitted event, the tracking task, the
// ledger entry and the commit, all idempotent): the delivery that recorded
// the request may have been the message's last and ended before them, and
// nothing redelivers it. It never sends anything upstream.
func (p *Pipeline) finishRecorded(ctx context.Context, j *job, rec *record.Record) (Outcome, error) {
	j.rec = rec
	o := p.announceExisting(j)
	if err := p.announce(ctx, o, Decide(o, j.meta.NumDelivered, p.cfg.Retry, 0)); err != nil {
		return o, fmt.Errorf("finish %s (request %s): %w", record.Key(j.tenant, j.sub.ID), rec.RequestID, err)
	}
	return o, nil
}
