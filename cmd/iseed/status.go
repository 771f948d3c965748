package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newStatusCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a submission's record and events",
		Long: "Prints the submission's record (state, timeline, upstream request, document, problems) and its\n" +
			"status and document events. A submission the upstream refused shows what the upstream said (its own\n" +
			"message, which may name the field at fault and echo personal data, as the problems' messages may).\n\n" +
			"The record is read from its bucket's leader, not from a replica that may lag; when the leader does\n" +
			"not answer (an election, a cluster without quorum), a replica's copy is printed and stderr says it may\n" +
			"be behind.\n\n" +
			"When its events cannot all be read (NATS busy or unreachable meanwhile), it prints the record and\n" +
			"the events it read, says so (in the table; with -o json, \"events_incomplete\": true), and the\n" +
			"error follows on stderr: exit 1.\n\n" +
			"The record's document is looked up in its bucket: one kept is shown with when the bucket's TTL\n" +
			"(ISEED_DOCUMENT_TTL) deletes it; one deleted since (past ISEED_DOCUMENT_TTL, by hand, or with its bucket)\n" +
			"is shown as no longer kept, with when, as far as that can be told; when the bucket cannot be read,\n" +
			"whether it is kept is unknown (never taken for deleted). With -o json, \"document\" beside \"record\" says\n" +
			"so (the record's document reference stays as stored): \"state\" kept, deleted or unknown; \"expires_at\",\n" +
			"when the bucket's TTL (\"ttl\") deletes a kept one; \"deleted_at\", when its bucket recorded a deletion;\n" +
			"\"expired_at\", the TTL after the record's document was stored (its \"stored\"), when it left no trace;\n" +
			"\"expired_about\", the same estimated for a record written before it said when its document was stored:\n" +
			"the TTL after the record entered the state the document was fetched in; \"problem\", why it is unknown.",
		Args: exactArgs("ID"),
		Annotations: map[string]string{exitCodesKey: "0 found; 1 no such submission, an error, or its events could not all be read " +
			"(the record and the events read are printed); 2 usage or configuration error"},
	}
	tenant := tenantFlag(cmd.Flags(), "default", "tenant")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		format, err := out.format(e.stdout)
		if err != nil {
			return err
		}
		c, err := openCLI(cmd.Context(), e.stderr, true)
		if err != nil {
			return err
		}
		defer c.close()
		ctx := cmd.Context()
		rec, err := statusRecord(ctx, c, *tenant, args[0], e.stderr)
		if errors.Is(err, record.ErrNotFound) {
			if dl, _ := newestDeadLetter(ctx, c, *tenant, args[0]); dl != nil { // a malformed message has no record
				return fmt.Errorf("no submission %q for tenant %q: its message was dead-lettered (%s) as dead letter %d; see 'iseed dlq show %d'",
					args[0], *tenant, dl.Reason, dl.Seq, dl.Seq)
			}
			return noSubmission(cmd, args[0], *tenant)
		}
		if err != nil {
			return err
		}
		// Events that cannot all be read leave the record to print: an
		// operator looking at a submission during a NATS hiccup sees it,
		// the events read, and then the error.
		events, evErr := publisher.ReadEvents(ctx, c.js, c.res.Layout.EventsStream(), c.res.Layout.Events(), *tenant, args[0])
		doc := checkDocument(ctx, c.js, rec, time.Now())
		if format == formatJSON {
			err = writeJSON(e.stdout, struct {
				Record     *record.Record    `json:"record"`
				Document   *documentState    `json:"document,omitempty"`
				Events     []json.RawMessage `json:"events"`
				Incomplete bool              `json:"events_incomplete,omitempty"`
			}{rec, doc, events, evErr != nil})
		} else {
			err = printStatus(e.stdout, rec, doc, events, evErr != nil)
		}
		return errors.Join(err, evErr)
	}
	return cmd
}

// statusRecord reads a submission's record from its bucket's leader: a KV
// get is a direct get, which any replica answers, and one that lags (a
// node restarted and catching up) shows an older state, or none. When the
// leader does not answer (an election, a cluster without quorum), a
// replica's copy is printed, and stderr says that it may be behind.
func statusRecord(ctx context.Context, c *cliConn, tenant, id string, stderr io.Writer) (*record.Record, error) {
	store := record.NewStore(c.res.Records)
	rec, _, err := store.GetFromLeader(ctx, c.js, tenant, id)
	if err == nil || errors.Is(err, record.ErrNotFound) {
		return rec, err
	}
	rec, _, rerr := store.Get(ctx, tenant, id)
	if errors.Is(rerr, record.ErrNotFound) {
		return nil, err // a replica's "no such record" proves nothing
	}
	if rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	fmt.Fprintf(stderr, "iseed: %v; printing a replica's copy of the record, which may be behind\n", err)
	return rec, nil
}

// noSubmission is the error for a submission tenant has no record of; when
// cmd's --tenant was not given, it says which tenant that was, and how to
// name another.
func noSubmission(cmd *cobra.Command, id, tenant string) error {
	if !cmd.Flags().Changed("tenant") {
		return fmt.Errorf("no submission %q for tenant %q (no --tenant given: pass --tenant T for another tenant's)", id, tenant)
	}
	return fmt.Errorf("no submission %q for tenant %q", id, tenant)
}

// Document states in status's output.
const (
	docKept    = "kept"
	docDeleted = "deleted"
	docUnknown = "unknown"
)

// documentState is whether a record's document is still in its bucket, as
// status prints it (-o json: "document", beside "record", whose document
// reference stays as stored).
type documentState struct {
	State string `json:"state"` // kept, deleted or unknown (the bucket could not be read)
	// ExpiresAt: when the bucket's TTL deletes a kept document.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// DeletedAt: when the object was deleted, as its bucket recorded it.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	// ExpiredAt: when the bucket's TTL deleted it, counted from when the
	// record says it was stored.
	ExpiredAt *time.Time `json:"expired_at,omitempty"`
	// ExpiredAbout: the same, in a record that does not say when its
	// document was stored, counted from the record's entry into the state
	// the document was fetched in.
	ExpiredAbout *time.Time `json:"expired_about,omitempty"`
	TTL          string     `json:"ttl,omitempty"`     // the bucket's TTL, when read
	Problem      string     `json:"problem,omitempty"` // why the state is unknown
}

// checkDocument asks r's document's bucket whether it is still kept (nil
// when r has none).
func checkDocument(ctx context.Context, js jetstream.JetStream, r *record.Record, now time.Time) *documentState {
	if r.Document == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := tracking.CheckDocument(ctx, js, r, now)
	if err != nil {
		return &documentState{State: docUnknown, Problem: err.Error()}
	}
	d := &documentState{State: docKept, ExpiresAt: timeOrNil(st.ExpiresAt),
		DeletedAt: timeOrNil(st.DeletedAt), ExpiredAt: timeOrNil(st.ExpiredAt), ExpiredAbout: timeOrNil(st.ExpiredAbout)}
	if st.Gone {
		d.State = docDeleted
	}
	if st.TTL > 0 {
		d.TTL = st.TTL.String()
	}
	return d
}

// timeOrNil is t, or nil when it is zero (left out of the JSON).
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// documentLine is what status prints of a document: the reference, and
// whether it is still kept.
func documentLine(ref *record.DocumentRef, d *documentState) string {
	line := fmt.Sprintf("%s (%d bytes, %s, sha256 %s)", shown(ref.Object), ref.Size, shown(ref.ContentType), ref.SHA256)
	switch {
	case d == nil:
		return line
	case d.State == docKept && d.ExpiresAt != nil:
		return line + "; kept until " + d.ExpiresAt.UTC().Format(time.RFC3339) + ", the bucket's TTL (" + d.TTL + ", ISEED_DOCUMENT_TTL) after it was stored"
	case d.State == docKept:
		return line
	case d.State == docUnknown:
		return line + "; whether it is still kept is unknown: " + shown(d.Problem)
	}
	gone := "no longer kept: deleted"
	switch {
	case d.DeletedAt != nil:
		gone += " " + d.DeletedAt.UTC().Format(time.RFC3339)
	case d.ExpiredAt != nil:
		gone += " " + d.ExpiredAt.UTC().Format(time.RFC3339) + ", the bucket's TTL (" + d.TTL + ", ISEED_DOCUMENT_TTL) after it was stored"
	case d.ExpiredAbout != nil:
		gone += " about " + d.ExpiredAbout.UTC().Format(time.RFC3339) + ", past the bucket's TTL (" + d.TTL + ", ISEED_DOCUMENT_TTL)"
	default:
		gone += " at a time not known (past ISEED_DOCUMENT_TTL, by hand, or with its bucket)"
	}
	return gone + "; was " + line
}

// printStatus writes a record, whether its document is still kept (doc)
// and its events for people; incomplete says that the events could not
// all be read.
func printStatus(w io.Writer, r *record.Record, doc *documentState, events []json.RawMessage, incomplete bool) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "submission\t%s/%s\n", r.Tenant, r.ID)
	fmt.Fprintf(tw, "state\t%s\n", r.State)
	if r.Service != "" {
		fmt.Fprintf(tw, "service\t%s (%s)%s\n", shown(r.Service), shown(r.ServiceHash), priceText(r.Price))
	}
	if r.RequestID != "" {
		fmt.Fprintf(tw, "upstream request\t%s (%s)\n", shown(r.RequestID), shown(r.StatoRichiesta))
	}
	fmt.Fprintf(tw, "attempts\t%d, generation %d\n", r.Attempts, r.Generation)
	if r.Reason != "" {
		fmt.Fprintf(tw, "reason\t%s\n", r.Reason)
	}
	if r.UpstreamMessage != "" { // personal data, as the problems' messages below
		fmt.Fprintf(tw, "upstream said\t%s\n", shown(r.UpstreamMessage))
	}
	printPending(tw, r)
	if !r.CancelRequested.IsZero() {
		fmt.Fprintf(tw, "cancel requested\t%s %s, before it was sent: never sent\n", r.CancelRequested.UTC().Format(time.RFC3339), r.CancelledByWhom())
	}
	if d := r.Document; d != nil {
		fmt.Fprintf(tw, "document\t%s\n", documentLine(d, doc))
	}
	printProblems(tw, r.Errors)
	if !r.Scrubbed.IsZero() {
		fmt.Fprintf(tw, "scrubbed\t%s: metadata, person key, problem texts, document file name and any upstream state the API does not publish removed (ISEED_RECORD_SCRUB_AFTER)\n", r.Scrubbed.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\ntimeline:")
	for _, t := range r.Timeline {
		line := t.At.UTC().Format(time.RFC3339) + " " + t.State
		if t.Note != "" {
			line += " " + t.Note
		}
		fmt.Fprintf(w, "  %s\n", line)
	}
	fmt.Fprintln(w, "\nevents:")
	for _, ev := range events {
		fmt.Fprintf(w, "  %s\n", eventLine(ev))
	}
	if incomplete {
		fmt.Fprintln(w, "  (incomplete: the others could not be read; the error follows)")
	}
	return nil
}

// printPending says when an attempt is pending: a POST may have reached
// Visengine and its answer was lost, which is what an operator must know
// before replaying, resubmitting or adopting anything.
func printPending(w io.Writer, r *record.Record) {
	pa := r.Pending
	if pa == nil || r.RequestID != "" {
		return
	}
	at := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch {
	case pa.Unsent:
		fmt.Fprintf(w, "attempt pending\tsince %s, lease until %s: waiting for an upstream token, nothing sent yet\n", at(pa.Started), at(pa.Until))
	case pa.Settle.IsZero():
		fmt.Fprintf(w, "attempt pending\tsince %s, lease until %s\n", at(pa.Started), at(pa.Until))
	case r.State == record.StateFailed:
		// Reconciliation ended: the submission is dead-lettered ambiguous
		// and nothing reads the upstream for it any more.
		fmt.Fprintf(w, "attempt unreconciled\tsince %s: a POST went unanswered and may have created a request; not reconciled, failed %s: a person decides (iseed audit, then adopt, disown or replay; do not resubmit)\n",
			at(pa.Started), r.Reason)
	default:
		fmt.Fprintf(w, "attempt pending\tsince %s: a POST went unanswered and may have created a request; reconciling, settled at %s (do not resubmit)\n",
			at(pa.Started), at(pa.Settle))
	}
	if !r.LastFailure.IsZero() {
		fmt.Fprintf(w, "failures\tfirst %s, last %s\n", at(r.FirstFailure), at(r.LastFailure))
	}
}

// printProblems writes one line per problem: field, code, message.
func printProblems(w io.Writer, problems []publisher.Problem) {
	for _, p := range problems {
		fmt.Fprintf(w, "problem\t%s\n", problemLine(p))
	}
}

func priceText(p *float64) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf(", price %.2f €", *p)
}
