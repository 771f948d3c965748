package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newSubmitCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "submit FILE",
		Short: "Publish a submission event, and optionally wait for its outcome",
		Long: "Publishes the submission event in FILE (- for standard input) on <prefix>.submissions.<tenant>\n" +
			"with the message id the pipeline requires, and prints its id.\n\n" +
			"With --wait it follows the submission's record until it is submitted (exit 0), rejected (exit 1,\n" +
			"every problem on its own line: field, code, message) or dead-lettered (exit 1, with the reason),\n" +
			"or --timeout passes (exit 3). A failed submission is reported by its dead letter.\n\n" +
			"A held submission (a spending cap, a pause, a fair share) is said once on standard error; --wait keeps waiting.\n\n" +
			"An event the stream already holds (the same tenant, id and payload within the duplicate window)\n" +
			"is dropped as a duplicate, which a note on standard error says; --wait then follows the copy\n" +
			"the stream kept, or fails at once when that copy is on another subject (someone took the\n" +
			"event's message id first). Without --wait the copy is not read: a tenant's credentials may not.\n\n" +
			"A publish the stream does not acknowledge fails, saying whether the event may have been stored\n" +
			"(publishing it again is safe). Without --wait it works with a tenant's credentials too (the\n" +
			"shipped grants let a tenant subscribe to _INBOX.>, where the acknowledgement comes); --wait reads\n" +
			"the records, which needs an operator's.",
		Args: exactArgs("FILE"),
		Annotations: map[string]string{exitCodesKey: "0 published (with --wait: submitted upstream); 1 rejected, dead-lettered or an error; " +
			"2 usage error or a file that is not a submission; 3 --wait timed out"},
	}
	tenant := tenantFlag(cmd.Flags(), "default", "tenant: the last token of the submissions subject")
	wait := cmd.Flags().Bool("wait", false, "wait until the submission is submitted, rejected or dead-lettered")
	timeout := cmd.Flags().Duration("timeout", 2*time.Minute, "with --wait, how long to wait")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !record.ValidToken(*tenant) {
			return usagef("--tenant must be letters, digits, _ or -, got %q", *tenant)
		}
		if *timeout <= 0 {
			return usagef("--timeout must be positive, got %s", *timeout)
		}
		data, err := readInput(e, args[0])
		if err != nil {
			return usagef("%v", err)
		}
		sub, err := consumer.DecodeSubmission(data)
		if err != nil {
			return usagef("%s: %v", args[0], err)
		}
		return submit(cmd.Context(), e, *tenant, data, sub, *wait, *timeout)
	}
	return cmd
}

func submit(ctx context.Context, e *env, tenant string, data []byte, sub *consumer.Submission, wait bool, timeout time.Duration) error {
	c, err := openCLI(ctx, e.stderr, wait)
	if err != nil {
		return err
	}
	defer c.close()
	var before uint64 // the submission's newest dead letter before this event
	if wait {
		dl, err := newestDeadLetter(ctx, c, tenant, sub.ID)
		if err != nil {
			return err
		}
		if dl != nil {
			before = dl.Seq
		}
	}
	m := nats.NewMsg(c.layout.SubmissionSubject(tenant))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, publisher.SubmissionMsgID(tenant, sub.ID, sub.Fingerprint()))
	ack, err := c.js.PublishMsg(ctx, m)
	if err != nil {
		return publishError(err, c.nc.LastError(), tenant, sub.ID)
	}
	var original uint64 // the stored copy this one duplicates (0: this one was stored)
	if ack.Duplicate {
		// The same tenant, id and payload within the stream's duplicate
		// window: the stream kept the first copy and dropped this one, so
		// the outcome to wait for is that copy's. Unless the copy is on
		// another subject: someone took this message id first (the id
		// names the tenant, but anyone may publish it), and nothing will
		// come of this event. Only --wait, which needs an operator's
		// credentials anyway, reads the copy: a tenant's grants do not let
		// it read the stream, and the refused read would wait out its
		// timeout after a permissions violation on standard error (a
		// producer's retry, which docs/cli.md says works).
		if wait {
			if kept, err := keptCopy(ctx, c, ack.Sequence); err == nil && kept.Subject != m.Subject {
				return fmt.Errorf("the stream dropped this event as a duplicate: message %d on %s, another subject, took its message id within ISEED_DEDUP_WINDOW; "+
					"nothing will happen to this one: publish it again under another id, or after the window", ack.Sequence, kept.Subject)
			}
		}
		original = ack.Sequence
		fmt.Fprintf(e.stderr, "note: the stream already holds a message with this event's id (tenant, id and payload) as message %d; "+
			"this copy was dropped as a duplicate and changes nothing\n", original)
	}
	if _, err := fmt.Fprintln(e.stdout, sub.ID); err != nil || !wait {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return follow(wctx, ctx, c, tenant, sub, waitFor{before: before, original: original}, e.stdout, e.stderr)
}

// publishError says what a failed publish of a submission means: only no
// stream listening on the subject, or the stream's refusal, proves that
// nothing was stored. Without an acknowledgement (a timeout, a lost
// connection, a reply subject these credentials may not subscribe to,
// which the connection's last error names) the stream may hold it. Sending
// it again is safe either way. The refused subscription itself, its
// subject and the permission lacking, is the line asyncErrors printed
// before: this says only what it means for the event.
func publishError(err, last error, tenant, id string) error {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		return fmt.Errorf("publish: no stream stores the submissions subject, so nothing was stored; start `iseed serve` first (it creates the streams): %w", err)
	case layout.AtQuota(err):
		return fmt.Errorf("publish: the submissions stream refused the event, nothing was stored: tenant %s holds as many submissions "+
			"as ISEED_TENANT_MAX_SUBMISSIONS allows (those the stream keeps, ISEED_RETENTION: 30 days by default): %w", tenant, err)
	case errors.As(err, &apiErr):
		return fmt.Errorf("publish: the submissions stream refused the event, nothing was stored: %w", err)
	}
	why := ""
	if errors.Is(last, nats.ErrPermissionViolation) {
		why = "; the acknowledgement cannot reach this command, as NATS refused its reply subscription (said above): " +
			"these credentials may not subscribe to _INBOX.>, which the shipped grants allow every user (docs/security.md)"
	}
	return fmt.Errorf("publish: no acknowledgement (%w), so the event may have been stored%s. "+
		"Publishing it again is safe (the stream drops a copy within ISEED_DEDUP_WINDOW, and iseed never sends a submission twice); "+
		"its status events (or, for an operator, `iseed status --tenant %s %s`) show whether iseed got it", err, why, tenant, id)
}

// keptCopy reads message seq of the submissions stream.
func keptCopy(ctx context.Context, c *cliConn, seq uint64) (*jetstream.RawStreamMsg, error) {
	st, err := c.js.Stream(ctx, c.layout.SubmissionsStream())
	if err != nil {
		return nil, err
	}
	return st.GetMsg(ctx, seq)
}

// newestDeadLetter is the submission's newest dead letter (nil: none).
func newestDeadLetter(ctx context.Context, c *cliConn, tenant, id string) (*dlq.DeadLetter, error) {
	m, err := c.res.DLQ.GetLastMsgForSubject(ctx, c.res.Layout.DLQSubject(tenant, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dead letters: %w", err)
	}
	dl := dlq.Parse(m.Sequence, m.Header)
	return &dl, nil
}

// waitFor says which dead letters are the published event's: those stored
// after before, or, when the stream dropped the event as a duplicate of
// the copy it stored as message original, the dead letter of that copy.
type waitFor struct {
	before, original uint64
}

func (wf waitFor) ours(dl *dlq.DeadLetter) bool {
	return dl != nil && (dl.Seq > wf.before || (wf.original != 0 && dl.StreamSeq == wf.original))
}

// follow polls the submission's record and dead letters until it has an
// outcome or wctx ends; ctx is the command's (an interrupt, not a timeout).
//
// A failed record is reported by its dead letter, which names the reason
// and the letter to show or replay: the pipeline writes the record first
// and the dead letter right after it.
//
// A hold by a spending cap is said once on note: it may last until the cap
// is raised or a new day or month begins.
func follow(wctx, ctx context.Context, c *cliConn, tenant string, sub *consumer.Submission, wf waitFor, w, note io.Writer) error {
	store := record.NewStore(c.res.Records)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	state := "not yet picked up by iseed serve"
	var last *record.Record // this payload's record, as last read
	for {
		rec, _, err := store.Get(wctx, tenant, sub.ID)
		if err != nil && !errors.Is(err, record.ErrNotFound) && wctx.Err() == nil {
			return err
		}
		switch {
		case rec != nil && rec.Fingerprint == sub.Fingerprint():
			if rec.State == record.StateHeld && (last == nil || last.State != record.StateHeld) {
				why, until := "a spending cap", "the cap allows it (iseed budget show)"
				if len(rec.Errors) > 0 {
					why = rec.Errors[0].Message
					switch code := rec.Errors[0].Code; {
					case strings.HasSuffix(code, "_paused"):
						until = "it is resumed (iseed budget show)"
					case code == publisher.HeldFairShare:
						until = "its tenant's share of the upstream budget has room"
					case code == publisher.HeldQueued:
						until = "its tenant's older held submissions have gone"
					}
				}
				fmt.Fprintf(note, "held: %s; it goes out when %s, still waiting\n", why, until)
			}
			last, state = rec, rec.State
			if rec.State != record.StateFailed || rec.RequestID != "" { // failed after it was sent: tracking ended it
				if done, err := outcome(w, rec); done {
					return err
				}
			}
		case rec != nil:
			state = "not yet picked up by iseed serve; the submission's record holds another payload under this id"
		}
		if dl, err := newestDeadLetter(wctx, c, tenant, sub.ID); err == nil && wf.ours(dl) {
			// A rejection says more than its dead letter: every problem.
			if rec, _, err := store.Get(wctx, tenant, sub.ID); err == nil && rec.Fingerprint == sub.Fingerprint() && rec.State == record.StateRejected {
				_, err := outcome(w, rec)
				return err
			}
			return deadLettered(dl, w)
		}
		if wf.original != 0 && last != nil && last.State == record.StateFailed {
			// A dropped copy of a failed submission whose dead letter is
			// gone (replayed or purged): nothing more will come.
			_, err := outcome(w, last)
			return err
		}
		select {
		case <-tick.C:
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if last != nil && last.State == record.StateFailed { // its dead letter did not come (or was replayed meanwhile)
				_, err := outcome(w, last)
				return err
			}
			fmt.Fprintf(w, "timed out: %s/%s is %s; follow it with 'iseed status --tenant %s %s'\n", tenant, sub.ID, state, tenant, sub.ID)
			return silent(exitTimeout)
		}
	}
}

// outcome prints a final record's verdict; done is false while the
// submission is still on its way.
func outcome(w io.Writer, r *record.Record) (done bool, err error) {
	switch r.State {
	case record.StateClaimed, record.StateHeld: // on its way (held: until the spending caps allow it)
		return false, nil
	case record.StateRejected:
		fmt.Fprintf(w, "rejected: %s/%s was not sent, nothing was charged; %d problem(s):\n", r.Tenant, r.ID, len(r.Errors))
		for _, p := range r.Errors {
			fmt.Fprintln(w, problemLine(p))
		}
		return true, silent(exitFailed)
	case record.StateFailed:
		if r.RequestID == "" {
			fmt.Fprintf(w, "failed: %s/%s: %s; see 'iseed dlq list --tenant %s'\n", r.Tenant, r.ID, r.Reason, r.Tenant)
			return true, silent(exitFailed)
		}
		fmt.Fprintf(w, "submitted: %s/%s is upstream request %s (%s%s), now failed (%s)\n", r.Tenant, r.ID, r.RequestID, r.Service, priceText(r.Price), r.Reason)
		return true, nil
	}
	fmt.Fprintf(w, "submitted: %s/%s is upstream request %s (%s%s), now %s\n", r.Tenant, r.ID, r.RequestID, r.Service, priceText(r.Price), r.State)
	return true, nil
}

// deadLettered prints why the submission's message was dead-lettered.
func deadLettered(r *dlq.DeadLetter, w io.Writer) error {
	fmt.Fprintf(w, "dead-lettered: %s/%s as dead letter %d, reason %s: %s; see 'iseed dlq show %d'\n",
		r.Tenant, r.SubmissionID, r.Seq, r.Reason, r.Error, r.Seq)
	return silent(exitFailed)
}

// problemLine is one problem for people: field, code, message.
func problemLine(p publisher.Problem) string {
	field := shown(p.Field)
	if field == "" {
		field = "-"
	}
	if p.Name != "" && p.Name != p.Field {
		field += " (" + shown(p.Name) + ")"
	}
	if p.Message == "" { // scrubbed by the retention: the code only
		return field + " " + p.Code
	}
	return fmt.Sprintf("%s %s: %s", field, p.Code, shown(p.Message))
}
