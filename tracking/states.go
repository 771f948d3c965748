package tracking

import (
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// stateOf maps stato_richiesta to a record state; "" when it maps to none
// (In ricerca, or a state this iseed does not know).
func stateOf(stato string) string {
	switch stato {
	case visengine.StateInProgress:
		return record.StateInProgress
	case visengine.StateDataReady:
		return record.StateDataReady
	case visengine.StateFulfilled:
		return record.StateCompleted
	case visengine.StateCancelled:
		return record.StateCancelled
	}
	return ""
}

// hasDocument reports whether the upstream serves the document in stato.
func hasDocument(stato string) bool {
	return stato == visengine.StateDataReady || stato == visengine.StateFulfilled
}

// needsDocument reports whether a poll in upstream state stato must fetch
// the document: none is stored yet, or the stored one predates `Visura
// evasa` (the document may be final only then: the DSU comes before the
// ISEE certificate).
func needsDocument(stato string, stored *record.DocumentRef) bool {
	if !hasDocument(stato) {
		return false
	}
	return stored == nil || (stato == visengine.StateFulfilled && stored.Stato != visengine.StateFulfilled)
}

// awaitsFinalDocument reports whether the upstream fulfilled a request
// (Visura evasa) whose final document is not stored yet: the record does
// not become completed before it is.
func awaitsFinalDocument(r *record.Record) bool {
	return r.StatoRichiesta == visengine.StateFulfilled && (r.Document == nil || r.Document.Stato != visengine.StateFulfilled)
}

// rank orders record states along a request's life. Final states share
// the highest rank.
func rank(state string) int {
	switch state {
	case record.StateClaimed:
		return 0
	case record.StateSubmitted:
		return 1
	case record.StateInProgress:
		return 2
	case record.StateDataReady:
		return 3
	default: // completed, cancelled, failed, rejected
		return 4
	}
}

// step is one state a request passes through, with its upstream timestamp.
type step struct {
	state string
	at    visengine.Timestamp
}

// epoch is the earliest time an upstream timestamp is taken for.
var epoch = time.Unix(0, 0)

// transitions returns the states a record must enter, in order, to catch up
// with the upstream request r: the current one and every earlier one the
// record missed (timestamp_stati says when each was reached; now stands in
// for a missing timestamp, and for one after now or before 1970). It is
// empty when the record is up to date.
func transitions(current string, r *visengine.Richiesta, now time.Time) []record.Transition {
	target := stateOf(r.StatoRichiesta)
	if target == "" || rank(current) >= rank(target) {
		return nil
	}
	ts := r.TimestampStati
	chain := []step{{record.StateInProgress, ts.InErogazione}, {record.StateDataReady, ts.DatiDisponibili}}
	if target == record.StateCancelled {
		chain = append(chain, step{record.StateCancelled, ts.Annullata})
	} else {
		chain = append(chain, step{record.StateCompleted, ts.VisuraEvasa})
	}
	var out []record.Transition
	for _, s := range chain {
		if rank(s.state) <= rank(current) || (s.at == 0 && s.state != target) {
			continue
		}
		at := s.at.Time()
		if at.IsZero() || at.After(now) || at.Before(epoch) {
			// A time ahead (the upstream's clock, or a timestamp in another
			// unit: microseconds read as milliseconds are past the year
			// 9999, which no event or record can carry) says no more than
			// a missing one.
			at = now
		}
		out = append(out, record.Transition{State: s.state, At: at, Note: "upstream: " + stato(s.state, r)})
		if s.state == target {
			break
		}
	}
	return out
}

// stato names the upstream state behind a record state, for timeline notes.
func stato(state string, r *visengine.Richiesta) string {
	switch state {
	case record.StateInProgress:
		return visengine.StateInProgress
	case record.StateDataReady:
		return visengine.StateDataReady
	case record.StateCompleted:
		return visengine.StateFulfilled
	case record.StateCancelled:
		return visengine.StateCancelled
	}
	return r.StatoRichiesta
}

// overdueNoted reports whether the overdue event was already published.
func overdueNoted(r *record.Record) bool { return !r.EnteredAt(record.StateOverdue).IsZero() }

// trackedStatus is the status event of a tracked state, with the upstream
// outcome (esito) and, when cancelled, the reason (motivo_annullamento).
// Its id has the last replay's suffix once a replay reopened the record
// (record.Record.TrackedStatus, the pipeline's rule too).
func trackedStatus(rec *record.Record, state string, r *visengine.Richiesta) publisher.Status {
	s := *rec.TrackedStatus(state)
	if r != nil && state != record.StateOverdue {
		s.StatoRichiesta = stato(state, r) // the state's own, when one poll caught several
	}
	if r != nil && (state == record.StateCompleted || state == record.StateCancelled) && r.Esito != nil {
		s.Outcome = &publisher.Outcome{Code: record.Cut(string(r.Esito.Codice), maxUpstreamText), Info: record.Cut(r.Esito.Info, maxUpstreamText)}
	}
	if r != nil && state == record.StateCancelled {
		s.Reason = record.Cut(string(r.MotivoAnnullamento), maxUpstreamText)
	}
	return s
}

// maxUpstreamText bounds each of the upstream's free texts an event
// carries (esito, motivo_annullamento), as record.Stato bounds a
// stato_richiesta. The client keeps a value up to 1 MiB: an event over the
// server's maximum payload could never be published, and every catch-up
// of the request failed, at the retry delay, until tracking gave up on it.
const maxUpstreamText = 2 << 10
