package tracking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// catchUp brings the record up to date with r: events first (deduplicated by id),
// then the record by compare-and-set, re-reading it when another writer won.
// It reports whether tracking is over; an error means "poll again soon".
func (t *Tracker) catchUp(ctx context.Context, rec *record.Record, rev uint64, r *visengine.Richiesta) (bool, error) {
	var fetched docFetch
	defer fetched.spool.close()
	stale := true // rec was read before the upstream answered
	scrubbed := rec.Scrubbed
	for range maxCAS {
		override := overridesGiveUp(rec, r)
		if rec.Closed() && !override {
			if !rec.Scrubbed.IsZero() && !rec.Scrubbed.Equal(scrubbed) {
				// Erased while this catch-up overrode its give-up: what
				// it stored is removed (erased.go).
				return true, t.removeErasedOverride(ctx, rec, fetched.doc)
			}
			// Closed by another writer since this catch-up read it: what
			// this one learnt is neither announced nor written.
			return true, nil
		}
		now := t.cfg.Now()
		next := rec.Clone()
		next.PollsFailing = time.Time{} // the upstream answered
		if st := stateOf(r.StatoRichiesta); st == "" || rank(st) >= rank(next.State) && !upstreamBehind(st, next.StatoRichiesta) {
			next.StatoRichiesta = record.Stato(r.StatoRichiesta) // never back to an earlier state: a stale read lost a race
		}
		if fetched.doc == nil && needsDocument(r.StatoRichiesta, next.Document) {
			if stale {
				// Read again before downloading: while the upstream
				// answered, another catch-up (a callback beside a poll)
				// may have stored the document and closed the record, and
				// a second download would take the upstream budget for
				// nothing.
				moved, err := t.reread(ctx, &rec, &rev)
				if err != nil {
					return false, err
				}
				if moved {
					stale = false
					continue
				}
			}
			stale = true // a download takes its time
		}
		docChanged, announce := t.takeDocument(ctx, &fetched, next, r.StatoRichiesta)
		from := rec.State
		if override {
			from = lastTracked(rec)
		}
		trs := transitions(from, r, now)
		if awaitsFinalDocument(next) {
			// Completed only with its final document: the next poll
			// tries again, and the state waits for it.
			trs = slices.DeleteFunc(trs, func(tr record.Transition) bool { return tr.State == record.StateCompleted })
		}
		if override && !overrideGiveUp(next, trs) {
			return true, fetched.err // without its final document, the give-up stands
		}
		for _, tr := range trs {
			next.To(tr.State, tr.At, tr.Note)
		}
		overdue := t.markOverdue(next, now)
		if stale && (len(trs) > 0 || overdue || announce != nil) {
			// Read again before announcing anything: while the upstream
			// answered and the document downloaded, a give-up may have
			// closed the record, and events computed from the earlier read
			// would contradict it.
			stale = false
			moved, err := t.reread(ctx, &rec, &rev)
			if err != nil {
				return false, err
			}
			if moved {
				continue
			}
		}
		if err := t.noteCompletion(ctx, next, trs); err != nil {
			return false, err
		}
		if override {
			// The give-up's failed event first, with its id (deduplicated:
			// it may be out already, or its tracker still on its way to
			// it), so that completed comes after it.
			if err := t.d.Events.Status(ctx, giveUpStatus(rec)); err != nil {
				return false, err
			}
		} else if len(trs) > 0 {
			// Likewise the reopen's event, when a replay reopened the
			// record in the state it moves on from.
			if err := t.announceReopen(ctx, rec); err != nil {
				return false, err
			}
		}
		if err := t.publish(ctx, next, r, trs, overdue, announce, override); err != nil {
			return false, err
		}
		if len(trs) == 0 && !overdue && !docChanged && next.StatoRichiesta == rec.StatoRichiesta && rec.PollsFailing.IsZero() {
			return next.Closed(), fetched.err
		}
		_, err := t.store.Update(ctx, next, rev)
		if errors.Is(err, record.ErrRevision) {
			if rec, rev, err = t.store.Get(ctx, rec.Tenant, rec.ID); err != nil {
				return false, err
			}
			stale = false
			continue
		}
		if err != nil {
			return false, err
		}
		if override {
			// The give-up's dead letter is not true any more. Removed only
			// now that the record says completed: a crash before the
			// write must not lose a letter the record still stands by.
			// One that fails here is withdrawn by the upstream's retry of
			// the callback (Refresh), or by the give-up (announceGiveUp).
			if err := t.withdrawOverridden(ctx, next); err != nil {
				return false, err
			}
		}
		return next.Closed(), fetched.err
	}
	return false, record.ErrRevision
}

// reread reads the record again; moved reports that another writer has
// written it since revision *rev, and then *rec and *rev are the newer ones.
func (t *Tracker) reread(ctx context.Context, rec **record.Record, rev *uint64) (moved bool, err error) {
	cur, curRev, err := t.store.Get(ctx, (*rec).Tenant, (*rec).ID)
	if err != nil || curRev <= *rev {
		return false, err
	}
	*rec, *rev = cur, curRev
	return true, nil
}

// upstreamBehind reports whether st, the record state of an upstream
// answer, comes before the upstream state stato the record holds: a
// record in data_ready may hold "Visura evasa" (awaiting its final
// document), which an answer "Dati disponibili" read before it must not
// take back.
func upstreamBehind(st, stato string) bool {
	cur := stateOf(stato)
	return cur != "" && rank(st) < rank(cur)
}

// overridesGiveUp reports whether the upstream's answer r proves that a
// request tracking gave up on (rec) was completed after all: the upstream
// fulfilled it (Visura evasa). Like a POST's late answer after a failure,
// the upstream's word is the truth: the request was paid and fulfilled.
// A scrubbed record is never overridden: its personal data was removed
// (iseed erase, a person's erasure request, or ISEED_RECORD_SCRUB_AFTER),
// and the override would store the person's certificate and announce it
// again; the give-up stands, and the request stays in the ledger.
func overridesGiveUp(rec *record.Record, r *visengine.Richiesta) bool {
	return gaveUp(rec) && rec.Scrubbed.IsZero() && r.StatoRichiesta == visengine.StateFulfilled
}

// gaveUp reports whether tracking gave up on rec: failed with gave_up.
func gaveUp(rec *record.Record) bool {
	return rec.State == record.StateFailed && rec.Reason == dlq.ReasonGaveUp
}

// overrideGiveUp makes next, a record tracking gave up on, catch up to the
// states trs from its last tracked one, when they end completed (with its
// final document): the give-up's failure stays in the timeline, and
// completed's entry says it overrides it. It reports whether it did.
func overrideGiveUp(next *record.Record, trs []record.Transition) bool {
	if !slices.ContainsFunc(trs, func(tr record.Transition) bool { return tr.State == record.StateCompleted }) {
		return false
	}
	for i := range trs {
		if trs[i].State == record.StateCompleted {
			trs[i].Note += "; overrides " + dlq.ReasonGaveUp
		}
	}
	next.Reason, next.Errors, next.UpstreamMessage = "", nil, ""
	return true
}

// docFetch is the document download of one catch-up: made once, reused
// when a lost compare-and-set makes it recompute the record.
type docFetch struct {
	spool *spooled        // the download, kept until the catch-up ends
	doc   *storedDocument // the download as stored
	err   error           // the last attempt's
}

// takeDocument downloads the document when a poll in upstream state stato
// needs one, stores it under the name next calls for, and makes it next's.
// It reports whether it did, and the event that announces it (nil when
// none is due).
func (t *Tracker) takeDocument(ctx context.Context, f *docFetch, next *record.Record, stato string) (bool, *publisher.DocumentReady) {
	if !needsDocument(stato, next.Document) {
		return false, nil
	}
	if f.spool == nil {
		if f.spool, f.err = t.download(ctx, next, stato); f.spool == nil {
			return false, nil
		}
	}
	if f.doc != nil && f.doc.ref.Object != objectFor(next, f.doc.ref, safeName(f.spool.doc.Nome, next.RequestID)) {
		// Stored under a name that an earlier read of the record called
		// for: another catch-up (a callback beside a poll, another
		// replica) wrote the receipt since, and the final document, the
		// same bytes, would take the receipt's object. Stored again under
		// the final name, from the file.
		f.doc = nil
	}
	if f.doc == nil {
		if f.doc, f.err = t.storeDocument(ctx, next, f.spool); f.doc == nil {
			return false, nil
		}
	}
	var announce *publisher.DocumentReady
	if f.doc.announces(next.Document) {
		announce = &f.doc.event
	}
	next.Document = &f.doc.ref
	return true, announce
}

// markOverdue notes, once, that the request is overdue.
func (t *Tracker) markOverdue(next *record.Record, now time.Time) bool {
	if next.Closed() || next.State == record.StateCompleted || overdueNoted(next) || !t.overdue(next.SubmittedAt(), now) {
		return false
	}
	next.Note(record.StateOverdue, now, fmt.Sprintf("not finished after %d working days", t.cfg.OverdueWorkdays))
	return true
}

// overdue reports whether a request submitted at submitted is, at now
// (both on the daemon's clock), open for OverdueWorkdays working days
// (Config.Overdue).
func (t *Tracker) overdue(submitted, now time.Time) bool {
	return t.cfg.Overdue(t.cfg.Timebase.At(submitted), t.cfg.Timebase.At(now))
}

// noteCompletion remembers a completed ISEE for the prior-ISEE rule.
func (t *Tracker) noteCompletion(ctx context.Context, next *record.Record, trs []record.Transition) error {
	if t.d.History == nil || !slices.ContainsFunc(trs, func(tr record.Transition) bool { return tr.State == record.StateCompleted }) {
		return nil
	}
	return t.d.History.NoteCompleted(ctx, next)
}

// publish sends the events of one catch-up: states in order, the document
// just before completed when there is one (a consumer told "completed" has
// been told of the final document), else after the states, then overdue.
// completed has an id of its own when it overrides a give-up.
func (t *Tracker) publish(ctx context.Context, next *record.Record, r *visengine.Richiesta, trs []record.Transition, overdue bool, doc *publisher.DocumentReady, override bool) error {
	for _, tr := range trs {
		if doc != nil && tr.State == record.StateCompleted {
			if err := t.announceDocument(ctx, next, *doc); err != nil {
				return err
			}
			doc = nil
		}
		s := trackedStatus(next, tr.State, r)
		if override && tr.State == record.StateCompleted {
			s.EventID = publisher.OverrideEventID(next.Tenant, next.ID, next.Generation, lastReplay(next))
		}
		if err := t.d.Events.Status(ctx, s); err != nil {
			return err
		}
	}
	if doc != nil {
		if err := t.announceDocument(ctx, next, *doc); err != nil {
			return err
		}
	}
	if overdue {
		return t.d.Events.Status(ctx, trackedStatus(next, record.StateOverdue, r))
	}
	return nil
}

// announceDocument publishes a document's event with the submission's
// metadata.
func (t *Tracker) announceDocument(ctx context.Context, next *record.Record, ev publisher.DocumentReady) error {
	ev.Metadata = next.Metadata
	return t.d.Events.DocumentReady(ctx, ev)
}
