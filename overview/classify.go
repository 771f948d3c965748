package overview

import (
	"encoding/json"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// StateAwaitingDocument labels an open request the upstream has completed
// (Visura evasa) whose final document iseed has not stored yet: the record
// says stato_richiesta "Visura evasa" (or state completed, when an earlier
// iseed recorded it), and tracking goes on until the document is there.
const StateAwaitingDocument = "awaiting_document"

// StateHeld is the record state of a submission held back before it is sent
// (a budget cap, say). The watcher counts it by name, like any state it does
// not know.
const StateHeld = "held"

// kind says where a record stands for the overview.
type kind uint8

const (
	kindClosed kind = iota // nothing more will happen: not kept
	kindOpen               // an upstream request being tracked
	kindUnsent             // no upstream request yet, not closed (claimed, held, …)
)

// view is the part of a stored record the overview reads. Decoding only
// these fields keeps the watcher from holding a record.
type view struct {
	State          string    `json:"state"`
	StatoRichiesta string    `json:"stato_richiesta"`
	RequestID      string    `json:"request_id"`
	Created        time.Time `json:"created"`
	Timeline       []struct {
		State string    `json:"state"`
		At    time.Time `json:"at"`
	} `json:"timeline"`
	Document *docView `json:"document"`
	Errors   []struct {
		Code string `json:"code"`
	} `json:"errors"`
}

// docView is the part of a record's document reference the overview reads.
type docView struct {
	Stato string `json:"stato"`
}

// heldCode is a held record's code, its first problem's: why it is held
// (a cap's, a pause's, publisher.HeldFairShare, publisher.HeldQueued); ""
// when it has none.
func (v *view) heldCode() string {
	if len(v.Errors) == 0 {
		return ""
	}
	return v.Errors[0].Code
}

func decodeView(b []byte) (view, error) {
	var v view
	err := json.Unmarshal(b, &v)
	return v, err
}

// submittedAt is record.Record.SubmittedAt: when the submitted state was
// last entered, else when the record was created.
func (v *view) submittedAt() time.Time {
	for i := len(v.Timeline) - 1; i >= 0; i-- {
		if v.Timeline[i].State == record.StateSubmitted {
			return v.Timeline[i].At
		}
	}
	return v.Created
}

// overdueNoted reports whether the tracker published the overdue event.
func (v *view) overdueNoted() bool {
	for i := range v.Timeline {
		if v.Timeline[i].State == record.StateOverdue {
			return true
		}
	}
	return false
}

// closed is tracking's own rule (tracking/states.go, closed): cancelled,
// failed, rejected, or completed with its final document stored. A test
// holds the two together through tracking.ListOpen.
func (v *view) closed() bool {
	switch v.State {
	case record.StateCancelled, record.StateFailed, record.StateRejected:
		return true
	case record.StateCompleted:
		return v.Document != nil && (v.Document.Stato == visengine.StateFulfilled || v.Document.Stato == "")
	}
	return false
}

// classify returns where the record stands and the state name it is
// counted under.
func (v *view) classify() (kind, string) {
	switch {
	case v.closed():
		return kindClosed, ""
	case v.RequestID == "":
		return kindUnsent, v.State
	case v.State == record.StateCompleted || v.StatoRichiesta == visengine.StateFulfilled:
		return kindOpen, StateAwaitingDocument
	default:
		return kindOpen, v.State
	}
}

// OpenState returns the state an open request is counted and listed under
// (Counts.Open, Query.State): awaiting_document, or its record state; ""
// when r is not an open request. `iseed track list` names and filters by
// it, so that one request has one state wherever an operator looks.
func OpenState(r *record.Record) string {
	v := view{State: r.State, StatoRichiesta: r.StatoRichiesta, RequestID: r.RequestID}
	if r.Document != nil {
		v.Document = &docView{Stato: r.Document.Stato}
	}
	if k, state := v.classify(); k == kindOpen {
		return state
	}
	return ""
}
