package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
)

func (c *Console) submission(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := submissionData{Tenant: strings.TrimSpace(q.Get("tenant")), ID: strings.TrimSpace(q.Get("id"))}
	if d.Tenant == "" && d.ID == "" {
		c.render(w, r, http.StatusOK, "submission", "Submission", d)
		return
	}
	if !record.ValidToken(d.Tenant) || !record.ValidToken(d.ID) {
		d.Problem = "A tenant and a submission id are each 1 to 64 letters, digits, _ or -."
		c.render(w, r, http.StatusBadRequest, "submission", "Submission", d)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	rec, _, err := record.NewStore(c.d.Resources.Records).Get(ctx, d.Tenant, d.ID)
	switch {
	case errors.Is(err, record.ErrNotFound):
		d.Problem = "iseed has no record of submission " + d.Tenant + "/" + d.ID + "."
		c.render(w, r, http.StatusNotFound, "submission", "Submission", d)
		return
	case err != nil:
		c.fail(w, r, http.StatusServiceUnavailable, "The record cannot be read right now: "+err.Error())
		return
	}
	d.Record = recordOf(rec)
	d.Cancelled = q.Get("cancelled") == "1" && c.auth.noticeOK(q, cancelledFields...)
	d.Events, d.EventsTruncated, d.EventsProblem = c.events(ctx, d.Tenant, d.ID)
	d.DeadLetters, d.DeadLettersProblem = c.submissionDeadLetters(ctx, d.Tenant, d.ID)
	d.DeadLettersTruncated = len(d.DeadLetters) == maxDeadLetters
	// Last: a bucket that does not answer takes what is left of the
	// page's time, not the lists'.
	d.DocumentState, d.DocumentProblem = c.documentState(ctx, rec)
	c.render(w, r, http.StatusOK, "submission", "Submission "+d.Tenant+"/"+d.ID, d)
}

type submissionData struct {
	Tenant, ID    string
	Problem       string
	Cancelled     bool // an operator cancelled it here just now (a signed notice)
	Record        *recordView
	Events        []eventRow
	EventsProblem string
	// EventsTruncated: there may be more than the maxEvents shown (a
	// tenant sending payloads that conflict has an event of each).
	EventsTruncated    bool
	DeadLetters        []dlq.DeadLetter
	DeadLettersProblem string
	// DeadLettersTruncated: there may be more than the maxDeadLetters
	// listed (a tenant sending payloads that conflict has one a message).
	DeadLettersTruncated bool
	// DocumentState is what the record's document's bucket says of it
	// (nil without a document, or when the bucket cannot be read:
	// DocumentProblem then says why, and whether it is kept is unknown).
	DocumentState   *tracking.DocumentState
	DocumentProblem string
}

// documentState asks the bucket of rec's document whether it is still
// kept: a record goes on naming its document once the bucket's TTL
// (ISEED_DOCUMENT_TTL) deleted it. A bucket that cannot be read makes a
// problem, never a deleted document.
func (c *Console) documentState(ctx context.Context, rec *record.Record) (*tracking.DocumentState, string) {
	if rec.Document == nil {
		return nil, ""
	}
	st, err := tracking.CheckDocument(ctx, c.d.JS, rec, c.cfg.Now())
	if err != nil {
		return nil, "Whether the document is still kept is unknown: its bucket cannot be read right now: " + err.Error()
	}
	return &st, ""
}

// recordView is what the console shows of a record: no metadata, no
// problem messages, no document file name.
type recordView struct {
	*record.Record
	SubmittedAt time.Time
	Problems    []string // "field: code"
	Object      string   // the document's object name, its file name hidden
}

// Cancellable reports whether an operator may cancel the submission:
// consumer.CancelUnsent can (consumer.Unsent), and nobody has yet.
func (v *recordView) Cancellable() bool {
	return consumer.Unsent(v.Record) && v.CancelRequested.IsZero()
}

func recordOf(rec *record.Record) *recordView {
	v := &recordView{Record: rec, SubmittedAt: rec.SubmittedAt()}
	for _, p := range rec.Errors {
		where := p.Field
		if where == "" {
			where = p.Name
		}
		if where != "" {
			where += ": "
		}
		v.Problems = append(v.Problems, where+p.Code)
	}
	if doc := rec.Document; doc != nil {
		dir, file := path.Split(doc.Object)
		v.Object = dir + "…" + fileType(file)
	}
	return v
}

// fileType is the extension of a document's file name (".pdf", ".zip"),
// or "" when what follows its last dot is not one: the name is the
// upstream's and may name the person ("sig.ra Maria Rossi", "DSU.<tax
// code>"), so only 1 to 4 ASCII letters and digits are shown.
func fileType(name string) string {
	ext := path.Ext(name)
	if len(ext) < 2 || len(ext) > 5 {
		return ""
	}
	for _, c := range ext[1:] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return ""
		}
	}
	return ext
}

// eventRow is one event about a submission: its envelope, not its data.
type eventRow struct {
	Type  string
	ID    string
	Time  time.Time
	State string
	Stato string
}

// maxEvents bounds the events one submission's page reads.
const maxEvents = 500

// events reads the oldest maxEvents events of a submission, and says
// whether there may be more (truncated).
func (c *Console) events(ctx context.Context, tenant, id string) ([]eventRow, bool, string) {
	l := c.d.Resources.Layout
	raws, err := publisher.ReadEventsUpTo(ctx, c.d.JS, l.EventsStream(), l.Events(), tenant, id, maxEvents)
	problem := ""
	switch {
	case err != nil && len(raws) == 0:
		return nil, false, "The events cannot be read right now: " + err.Error()
	case err != nil: // those read so far, said to be only those
		problem = "The events listed may be incomplete: " + err.Error()
	}
	var out []eventRow
	for _, raw := range raws {
		var ev publisher.Event
		if json.Unmarshal(raw, &ev) != nil {
			continue
		}
		row := eventRow{Type: ev.Type, ID: ev.ID, Time: ev.Time}
		var st struct {
			State string `json:"state"`
			Stato string `json:"stato_richiesta"`
		}
		if json.Unmarshal(ev.Data, &st) == nil {
			row.State, row.Stato = st.State, st.Stato
		}
		out = append(out, row)
	}
	return out, len(raws) == maxEvents, problem
}

// submissionDeadLetters lists one submission's dead letters (their
// headers: dlq.Queue.List). A list that stops before the last (a fetch
// that failed or timed out on a loaded server, the page's deadline) comes
// with a problem saying it may be incomplete: it is never taken for the
// whole one. It reads the oldest maxDeadLetters only: a tenant that sends
// other payloads under the submission's id has a dead letter a message.
func (c *Console) submissionDeadLetters(ctx context.Context, tenant, id string) ([]dlq.DeadLetter, string) {
	out, err := c.d.DeadLetters.List(ctx, dlq.Filter{Tenant: tenant, Submission: id, Limit: maxDeadLetters})
	switch {
	case err != nil && len(out) == 0:
		return nil, "The dead letters cannot be read right now: " + err.Error()
	case err != nil:
		return out, "The dead letters listed may be incomplete: " + err.Error()
	}
	return out, ""
}
