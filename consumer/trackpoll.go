package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// maxCAS bounds the compare-and-set retries of one poll.
const maxCAS = 5

// trackOutcome is what one poll of a task came to.
type trackOutcome struct {
	Final       bool  // tracking is over: the request ended (and its document is stored), or iseed gave up
	Err         error // the poll failed, or the document could not be stored yet
	Interrupted bool  // shutdown came first
}

// trackAction is the fate of a task.
type trackAction struct {
	Ack   bool
	Delay time.Duration // NakWithDelay when not Ack
}

// decideTrack is the one place that maps a poll's outcome to its task's
// fate. delivered is the task's delivery count (1 the first time): the poll
// schedule is indexed by it, its last step repeating.
func decideTrack(o trackOutcome, delivered uint64, c TrackerConfig) trackAction {
	next := c.Schedule[min(max(delivered, 1)-1, uint64(len(c.Schedule)-1))]
	switch {
	case o.Final:
		return trackAction{Ack: true}
	case o.Interrupted:
		return trackAction{Delay: c.HandBack}
	case o.Err != nil:
		return trackAction{Delay: min(c.RetryDelay, next)}
	default:
		return trackAction{Delay: next}
	}
}

// handle polls one task and settles it as decideTrack says.
func (t *RequestTracker) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	meta, err := msg.Metadata()
	var tk task
	if err == nil {
		err = json.Unmarshal(msg.Data(), &tk)
	}
	if err != nil || !ValidToken(tk.Tenant, maxIDLen) || !ValidToken(tk.ID, maxIDLen) {
		t.log.Error().Str("subject", msg.Subject()).Msg("malformed tracking task: terminated")
		_ = msg.Term()
		return
	}
	var o trackOutcome
	switch {
	case ctx.Err() != nil:
		o.Interrupted = true
	case meta.NumDelivered == 1 && msg.Headers().Get(ReplayHeader) == "":
		// A new task: the POST's answer has just told the state, so the
		// first poll waits for the schedule's first step (callbacks come sooner).
	default:
		_ = msg.InProgress() // the AckWait starts again: the limiter may have kept it waiting
		o = t.poll(ctx, tk, meta, msg)
		o.Interrupted = errors.Is(o.Err, context.Canceled)
	}
	act := decideTrack(o, meta.NumDelivered, t.cfg)
	t.d.Metrics.poll(o)
	if act.Ack {
		err = msg.Ack()
	} else {
		err = msg.NakWithDelay(act.Delay)
	}
	t.logPoll(tk, meta, o, act, err, time.Since(start))
}

func (t *RequestTracker) logPoll(tk task, meta *jetstream.MsgMetadata, o trackOutcome, act trackAction, settleErr error, took time.Duration) {
	ev := t.log.Debug()
	if o.Final {
		ev = t.log.Info()
	}
	if o.Err != nil && !o.Interrupted {
		ev = t.log.Warn().Str("error", safeError(o.Err))
	}
	if settleErr != nil {
		ev = t.log.Warn().AnErr("settle_error", settleErr)
	}
	ev.Str("tenant", tk.Tenant).Str("submission", tk.ID).Str("request_id", tk.RequestID).
		Uint64("delivered", meta.NumDelivered).Bool("final", o.Final).Dur("next_poll", act.Delay).
		Dur("took", took).Msg("request polled")
}

// poll brings one submission's record up to date with its upstream request.
func (t *RequestTracker) poll(ctx context.Context, tk task, meta *jetstream.MsgMetadata, msg jetstream.Msg) trackOutcome {
	rec, rev, err := t.store.Get(ctx, tk.Tenant, tk.ID)
	if errors.Is(err, ErrNotFound) {
		return trackOutcome{Final: true} // nothing to follow
	}
	if err != nil {
		return trackOutcome{Err: err}
	}
	if closed(rec) {
		seq := msg.Headers().Get(ReplayHeader)
		if !reopenable(rec, seq) {
			if rec.State == StateFailed && rec.Reason == ReasonGaveUp && seq == "" {
				// This task gave up; its announcement may not have gone out.
				if err := t.announceGiveUp(ctx, rec, meta, msg.Data()); err != nil {
					return trackOutcome{Err: err}
				}
			}
			return trackOutcome{Final: true}
		}
		if rec, rev, err = t.reopen(ctx, rec, rev, seq); err != nil {
			return trackOutcome{Err: err}
		}
	}
	if rec.RequestID == "" {
		return trackOutcome{Err: errors.New("the submission has no upstream request yet")}
	}
	if age := t.cfg.Now().Sub(trackedSince(rec)); age > t.cfg.MaxAge {
		return t.giveUp(ctx, rec, rev, meta, msg.Data())
	}
	final, err := t.refresh(ctx, rec, rev)
	return trackOutcome{Final: final, Err: err}
}

// Refresh re-reads one submission's upstream request now and applies what
// changed; a callback calls it. It is safe beside a concurrent poll.
func (t *RequestTracker) Refresh(ctx context.Context, tenant, id string) error {
	rec, rev, err := t.store.Get(ctx, tenant, id)
	if err != nil {
		return err
	}
	if closed(rec) || rec.RequestID == "" {
		return nil
	}
	_, err = t.refresh(ctx, rec, rev)
	return err
}

// refresh makes one GET /richiesta/{id} through the shared rate limit and
// applies the answer.
func (t *RequestTracker) refresh(ctx context.Context, rec *Record, rev uint64) (bool, error) {
	if err := t.d.Limiter.Wait(ctx); err != nil {
		return false, err
	}
	r, err := t.d.Upstream.Richiesta(ctx, rec.RequestID)
	if err != nil {
		return false, fmt.Errorf("poll %s: %w", rec.RequestID, err)
	}
	return t.apply(ctx, rec, rev, r)
}

// apply catches the record up with r: events first (deduplicated by id),
// then the record by compare-and-set, re-reading it when another writer won.
// It reports whether tracking is over; an error means "poll again soon".
func (t *RequestTracker) apply(ctx context.Context, rec *Record, rev uint64, r *visengine.Richiesta) (bool, error) {
	var doc *storedDocument
	var docErr error
	for range maxCAS {
		now := t.cfg.Now()
		next := cloneRecord(rec)
		trs := transitions(rec.State, r, now)
		for _, tr := range trs {
			next.to(tr.State, tr.At, tr.Note)
		}
		if st := stateOf(r.StatoRichiesta); st == "" || rank(st) >= rank(next.State) {
			next.StatoRichiesta = r.StatoRichiesta // never back to an earlier state: a stale read lost a race
		}
		overdue := t.markOverdue(next, now)
		newDoc, docChanged := false, false
		if needsDocument(r.StatoRichiesta, next.Document) {
			if doc == nil {
				doc, docErr = t.storeDocument(ctx, next)
			}
			if doc != nil {
				newDoc = next.Document == nil || next.Document.SHA256 != doc.ref.SHA256
				next.Document, docChanged = &doc.ref, true
			}
		}
		if err := t.noteCompletion(ctx, next, trs, r); err != nil {
			return false, err
		}
		if err := t.publish(ctx, next, r, trs, overdue, newDoc, doc); err != nil {
			return false, err
		}
		if len(trs) == 0 && !overdue && !docChanged && next.StatoRichiesta == rec.StatoRichiesta {
			return closed(next), docErr
		}
		_, err := t.store.Update(ctx, next, rev)
		if errors.Is(err, errRevision) {
			if rec, rev, err = t.store.Get(ctx, rec.Tenant, rec.ID); err != nil {
				return false, err
			}
			continue
		}
		if err != nil {
			return false, err
		}
		return closed(next), docErr
	}
	return false, errRevision
}

// markOverdue notes, once, that the request is overdue.
func (t *RequestTracker) markOverdue(next *Record, now time.Time) bool {
	if closed(next) || next.State == StateCompleted || overdueNoted(next) ||
		now.Sub(submittedAt(next)) <= t.cfg.OverdueAfter {
		return false
	}
	next.Timeline = append(next.Timeline, Transition{State: StateOverdue, At: now,
		Note: fmt.Sprintf("not finished after %s", t.cfg.OverdueAfter)})
	next.Updated = now
	return true
}

// noteCompletion remembers a completed ISEE for the prior-ISEE rule.
func (t *RequestTracker) noteCompletion(ctx context.Context, next *Record, trs []Transition, r *visengine.Richiesta) error {
	if t.d.History == nil || !slices.ContainsFunc(trs, func(tr Transition) bool { return tr.State == StateCompleted }) {
		return nil
	}
	return t.d.History.NoteCompleted(ctx, next, r)
}

// publish sends the events of one catch-up: states in order, then the
// document, then overdue.
func (t *RequestTracker) publish(ctx context.Context, next *Record, r *visengine.Richiesta, trs []Transition, overdue, newDoc bool, doc *storedDocument) error {
	for _, tr := range trs {
		if err := t.d.Events.Status(ctx, trackedStatus(next, tr.State, r)); err != nil {
			return err
		}
	}
	if newDoc {
		ev := doc.event
		ev.Metadata = next.Metadata
		if err := t.d.Events.DocumentReady(ctx, ev); err != nil {
			return err
		}
	}
	if overdue {
		return t.d.Events.Status(ctx, trackedStatus(next, StateOverdue, r))
	}
	return nil
}

// giveUp ends tracking of a request that never finished: dead letter (the
// task), failed event, then the record.
func (t *RequestTracker) giveUp(ctx context.Context, rec *Record, rev uint64, meta *jetstream.MsgMetadata, payload []byte) trackOutcome {
	now := t.cfg.Now()
	next := cloneRecord(rec)
	next.to(StateFailed, now, ReasonGaveUp)
	next.Reason = ReasonGaveUp
	next.Errors = []publisher.Problem{{Code: ReasonGaveUp, Message: fmt.Sprintf("the upstream request did not finish within %s", t.cfg.MaxAge)}}
	next.failedAt(now)
	// The record first: a callback that completed the request meanwhile wins
	// the compare-and-set, and nothing contradicting it is published.
	if _, err := t.store.Update(ctx, next, rev); err != nil {
		return trackOutcome{Err: fmt.Errorf("record gave_up: %w", err)}
	}
	if err := t.announceGiveUp(ctx, next, meta, payload); err != nil {
		return trackOutcome{Err: err} // the task comes back and announces again (deduplicated)
	}
	return trackOutcome{Final: true}
}

// announceGiveUp stores the dead letter and publishes the failed event of
// a request tracking gave up on; both are deduplicated by id.
func (t *RequestTracker) announceGiveUp(ctx context.Context, rec *Record, meta *jetstream.MsgMetadata, payload []byte) error {
	l := t.d.Tracking.Layout
	now := t.cfg.Now()
	msg := ""
	if len(rec.Errors) > 0 {
		msg = rec.Errors[0].Message
	}
	dl := DeadLetter{OriginalSubject: l.TrackSubject(rec.Tenant, rec.ID), StreamSeq: meta.Sequence.Stream,
		Tenant: rec.Tenant, SubmissionID: rec.ID, Reason: ReasonGaveUp, Error: msg, Attempts: rec.Attempts,
		Deliveries: meta.NumDelivered, Generation: max(rec.Generation, 1), FirstFailure: rec.FirstFailure, LastFailure: now}
	msgID := fmt.Sprintf("dlq.%s.%s.%d.%s", rec.Tenant, rec.ID, dl.Generation, ReasonGaveUp)
	if err := publishDeadLetter(ctx, t.d.Publisher, l, dl, payload, msgID); err != nil {
		return err
	}
	return t.d.Events.Status(ctx, *statusOf(rec, StateFailed))
}

// cloneRecord copies a record deeply enough to change its timeline.
func cloneRecord(r *Record) *Record {
	c := *r
	c.Timeline = slices.Clone(r.Timeline)
	return &c
}
