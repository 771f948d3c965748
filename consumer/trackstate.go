package consumer

import (
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine"
)

// Upstream request states (stato_richiesta).
const (
	StatoInRicerca       = "In ricerca"
	StatoInErogazione    = "In erogazione"
	StatoDatiDisponibili = "Dati disponibili"
	StatoVisuraEvasa     = "Visura evasa"
	StatoAnnullata       = "Annullata"
)

// StateOverdue marks, in a record's timeline only, that the overdue event
// was published. It is not a record state.
const StateOverdue = publisher.StateOverdue

// stateOf maps stato_richiesta to a record state; "" when it maps to none
// (In ricerca, or a state this iseed does not know).
func stateOf(stato string) string {
	switch stato {
	case StatoInErogazione:
		return StateInProgress
	case StatoDatiDisponibili:
		return StateDataReady
	case StatoVisuraEvasa:
		return StateCompleted
	case StatoAnnullata:
		return StateCancelled
	}
	return ""
}

// hasDocument reports whether the upstream serves the document in stato.
func hasDocument(stato string) bool {
	return stato == StatoDatiDisponibili || stato == StatoVisuraEvasa
}

// needsDocument reports whether a poll in upstream state stato must fetch
// the document: none is stored yet, or the stored one predates `Visura
// evasa` (the document may be final only then: the DSU comes before the
// ISEE certificate).
func needsDocument(stato string, stored *DocumentRef) bool {
	if !hasDocument(stato) {
		return false
	}
	return stored == nil || (stato == StatoVisuraEvasa && stored.Stato != StatoVisuraEvasa)
}

// rank orders record states along a request's life. Final states share
// the highest rank.
func rank(state string) int {
	switch state {
	case StateClaimed:
		return 0
	case StateSubmitted:
		return 1
	case StateInProgress:
		return 2
	case StateDataReady:
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

// transitions returns the states a record must enter, in order, to catch up
// with the upstream request r: the current one and every earlier one the
// record missed (timestamp_stati says when each was reached; now stands in
// for a missing timestamp). It is empty when the record is up to date.
func transitions(current string, r *visengine.Richiesta, now time.Time) []Transition {
	target := stateOf(r.StatoRichiesta)
	if target == "" || rank(current) >= rank(target) {
		return nil
	}
	ts := r.TimestampStati
	chain := []step{{StateInProgress, ts.InErogazione}, {StateDataReady, ts.DatiDisponibili}}
	if target == StateCancelled {
		chain = append(chain, step{StateCancelled, ts.Annullata})
	} else {
		chain = append(chain, step{StateCompleted, ts.VisuraEvasa})
	}
	var out []Transition
	for _, s := range chain {
		if rank(s.state) <= rank(current) || (s.at == 0 && s.state != target) {
			continue
		}
		at := s.at.Time()
		if at.IsZero() {
			at = now
		}
		out = append(out, Transition{State: s.state, At: at, Note: "upstream: " + stato(s.state, r)})
		if s.state == target {
			break
		}
	}
	return out
}

// stato names the upstream state behind a record state, for timeline notes.
func stato(state string, r *visengine.Richiesta) string {
	switch state {
	case StateInProgress:
		return StatoInErogazione
	case StateDataReady:
		return StatoDatiDisponibili
	case StateCompleted:
		return StatoVisuraEvasa
	case StateCancelled:
		return StatoAnnullata
	}
	return r.StatoRichiesta
}

// closed reports whether tracking of a record is over: cancelled, failed,
// rejected, or completed with its document stored.
func closed(r *Record) bool {
	switch r.State {
	case StateCancelled, StateFailed, StateRejected:
		return true
	case StateCompleted: // the final document is stored ("" : recorded before refetching existed)
		return r.Document != nil && (r.Document.Stato == StatoVisuraEvasa || r.Document.Stato == "")
	}
	return false
}

// overdueNoted reports whether the overdue event was already published.
func overdueNoted(r *Record) bool { return !r.enteredAt(StateOverdue).IsZero() }

// submittedAt is when the upstream request was created, as far as iseed knows.
func submittedAt(r *Record) time.Time {
	if t := r.enteredAt(StateSubmitted); !t.IsZero() {
		return t
	}
	return r.Created
}

// trackedStatus is the status event of a tracked state, with the upstream
// outcome (esito) and, when cancelled, the reason (motivo_annullamento).
func trackedStatus(rec *Record, state string, r *visengine.Richiesta) publisher.Status {
	s := *statusOf(rec, state)
	if r != nil && state != StateOverdue {
		s.StatoRichiesta = stato(state, r) // the state's own, when one poll caught several
	}
	if r != nil && (state == StateCompleted || state == StateCancelled) && r.Esito != nil {
		s.Outcome = &publisher.Outcome{Code: string(r.Esito.Codice), Info: r.Esito.Info}
	}
	if r != nil && state == StateCancelled {
		s.Reason = string(r.MotivoAnnullamento)
	}
	return s
}
