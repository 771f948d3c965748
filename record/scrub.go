package record

import (
	"path"
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
// the tenant sent, a message quotes them), and the upstream's message (it
// may echo them: UpstreamMessage); the problem codes stay, since a
// rejection's dead-letter reason is read from them. Everything else stays:
// the state, the fingerprint, the upstream request, the lease of a POST in
// doubt, the attempts, the reason code, the charge and reservation, the
// document reference but for the last part of its object name (the
// upstream's file name, which may name the person, "DSU.<tax code>.pdf":
// ScrubbedObject), the upstream state unless it is one the API publishes
// (any other stato_richiesta is the upstream's free text, which may name
// the person too: it becomes "…", which iseed does not know either), the
// timeline (whose notes iseed writes itself) and the replays. Scrubbed
// notes when.
//
// It reports whether it changed anything: a record that is not closed, or
// holds nothing to scrub, is left as it is.
func (r *Record) Scrub(now time.Time) bool {
	if !r.Closed() || !r.scrubbable() {
		return false
	}
	r.Metadata, r.PersonKey, r.UpstreamMessage = nil, "", ""
	if r.Document != nil {
		doc := *r.Document // shared with the record's clones
		doc.Object = ScrubbedObject(doc.Object)
		r.Document = &doc
	}
	if freeStato(r.StatoRichiesta) {
		r.StatoRichiesta = scrubbedName
	}
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

// ScrubbedObject is a document's object name (tenant/id/digest/file name)
// without its file name: "acme/emp-7/695ca03642f95e56/…". It still tells
// which object it is, and finds it while it is kept (tracking.
// FetchDocument).
func ScrubbedObject(name string) string { return path.Dir(name) + "/" + scrubbedName }

// scrubbedName stands for the file name ScrubbedObject removes.
const scrubbedName = "…"

// ScrubbedName reports whether name is one ScrubbedObject made.
func ScrubbedName(name string) bool { return path.Base(name) == scrubbedName }

// freeStato reports whether stato is the upstream's free text: a
// stato_richiesta that is none of the states the API publishes, nor the
// one Scrub leaves.
func freeStato(stato string) bool {
	return stato != "" && stato != scrubbedName && !visengine.PublishedState(stato)
}

// scrubbable reports whether the record holds something Scrub removes.
func (r *Record) scrubbable() bool {
	if r.Document != nil && !ScrubbedName(r.Document.Object) || freeStato(r.StatoRichiesta) {
		return true
	}
	return len(r.Metadata) > 0 || r.PersonKey != "" || r.UpstreamMessage != "" || slices.ContainsFunc(r.Errors, func(p publisher.Problem) bool {
		return p != publisher.Problem{Code: p.Code}
	})
}
