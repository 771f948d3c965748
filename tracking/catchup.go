package tracking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// catchUp brings the record up to date with r: events first (deduplicated by id),
// then the record by compare-and-set, re-reading it when another writer won.
// It reports whether tracking is over; an error means "poll again soon".
func (t *Tracker) catchUp(ctx context.Context, rec *record.Record, rev uint64, r *visengine.Richiesta) (bool, error) {
	var doc *storedDocument
	var docErr error
	for range maxCAS {
		now := t.cfg.Now()
		next := rec.Clone()
		trs := transitions(rec.State, r, now)
		for _, tr := range trs {
			next.To(tr.State, tr.At, tr.Note)
		}
		if st := stateOf(r.StatoRichiesta); st == "" || rank(st) >= rank(next.State) {
			next.StatoRichiesta = r.StatoRichiesta // never back to an earlier state: a stale read lost a race
		}
		overdue := t.markOverdue(next, now)
		var announce *publisher.DocumentReady
		docChanged := false
		if needsDocument(r.StatoRichiesta, next.Document) {
			if doc == nil {
				doc, docErr = t.storeDocument(ctx, next)
			}
			if doc != nil {
				if doc.announces(next.Document) {
					announce = &doc.event
				}
				next.Document, docChanged = &doc.ref, true
			}
		}
		if err := t.noteCompletion(ctx, next, trs); err != nil {
			return false, err
		}
		if err := t.publish(ctx, next, r, trs, overdue, announce); err != nil {
			return false, err
		}
		if len(trs) == 0 && !overdue && !docChanged && next.StatoRichiesta == rec.StatoRichiesta {
			return closed(next), docErr
		}
		_, err := t.store.Update(ctx, next, rev)
		if errors.Is(err, record.ErrRevision) {
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
	return false, record.ErrRevision
}

// markOverdue notes, once, that the request is overdue.
func (t *Tracker) markOverdue(next *record.Record, now time.Time) bool {
	if closed(next) || next.State == record.StateCompleted || overdueNoted(next) || !t.overdue(next.SubmittedAt(), now) {
		return false
	}
	next.Note(record.StateOverdue, now, fmt.Sprintf("not finished after %d working days", t.cfg.OverdueWorkdays))
	return true
}

// overdue reports whether a request submitted at submitted is, at now
// (both on the daemon's clock), open for OverdueWorkdays working days:
// whether that many working days after its submission, at the same time
// of day in Rome, has come.
func (t *Tracker) overdue(submitted, now time.Time) bool {
	tb, n := t.cfg.Timebase, t.cfg.OverdueWorkdays
	s, at := tb.At(submitted), tb.At(now)
	if at.Sub(s) < WorkingDays(float64(n)) {
		return false // fewer calendar days than working days
	}
	return !t.cfg.Polling.Calendar.Add(s, n).After(at)
}

// noteCompletion remembers a completed ISEE for the prior-ISEE rule.
func (t *Tracker) noteCompletion(ctx context.Context, next *record.Record, trs []record.Transition) error {
	if t.d.History == nil || !slices.ContainsFunc(trs, func(tr record.Transition) bool { return tr.State == record.StateCompleted }) {
		return nil
	}
	return t.d.History.NoteCompleted(ctx, next)
}

// publish sends the events of one catch-up: states in order, then the
// document, then overdue.
func (t *Tracker) publish(ctx context.Context, next *record.Record, r *visengine.Richiesta, trs []record.Transition, overdue bool, doc *publisher.DocumentReady) error {
	for _, tr := range trs {
		if err := t.d.Events.Status(ctx, trackedStatus(next, tr.State, r)); err != nil {
			return err
		}
	}
	if doc != nil {
		ev := *doc
		ev.Metadata = next.Metadata
		if err := t.d.Events.DocumentReady(ctx, ev); err != nil {
			return err
		}
	}
	if overdue {
		return t.d.Events.Status(ctx, trackedStatus(next, record.StateOverdue, r))
	}
	return nil
}
