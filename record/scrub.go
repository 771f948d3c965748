package record

import (
	"slices"
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine"
)

// Closed reports whether nothing more happens to the record on its own:
// rejected, failed, cancelled, or completed with its final document stored
// (a Document.Stato of "" was recorded before refetching existed). Only an
// operator's replay of its dead letter (iseed dlq replay, iseed audit adopt)
// reopens a closed record; a copy of its message finds it closed.
func (r *Record) Closed() bool {
	switch r.State {
	case StateCancelled, StateFailed, StateRejected:
		return true
	case StateCompleted:
		return r.Document != nil && (r.Document.Stato == visengine.StateFulfilled || r.Document.Stato == "")
	}
	return false
}

// Scrub removes from a closed record what came from its tenant and is not
// needed to keep the submission from being sent or paid again: the
// metadata, the person key and each problem's field, name and message (a
// field is the key as the tenant sent it, a name may be an option name
// the tenant sent, a message quotes them); the problem codes stay, since a
// rejection's dead-letter reason is read from them. Everything else stays:
// the state, the fingerprint, the upstream request, the lease of a POST in
// doubt, the attempts, the reason code, the charge and reservation, the
// document reference, the timeline (whose notes iseed writes itself) and
// the replays. Scrubbed notes when.
//
// It reports whether it changed anything: a record that is not closed, or
// holds nothing to scrub, is left as it is.
func (r *Record) Scrub(now time.Time) bool {
	if !r.Closed() || !r.scrubbable() {
		return false
	}
	r.Metadata, r.PersonKey = nil, ""
	errs := make([]publisher.Problem, len(r.Errors))
	for i, p := range r.Errors {
		errs[i] = publisher.Problem{Code: p.Code}
	}
	if len(errs) == 0 {
		errs = nil
	}
	r.Errors = errs
	r.Scrubbed = now
	return true
}

// scrubbable reports whether the record holds something Scrub removes.
func (r *Record) scrubbable() bool {
	return len(r.Metadata) > 0 || r.PersonKey != "" || slices.ContainsFunc(r.Errors, func(p publisher.Problem) bool {
		return p != publisher.Problem{Code: p.Code}
	})
}
