package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
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
			"or --timeout passes (exit 3).",
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
	c, err := openCLI(ctx, wait)
	if err != nil {
		return err
	}
	defer c.close()
	var before uint64
	if wait {
		if before, err = lastDeadLetter(ctx, c, tenant, sub.ID); err != nil {
			return err
		}
	}
	m := nats.NewMsg(c.layout.SubmissionSubject(tenant))
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, publisher.SubmissionMsgID(tenant, sub.ID, sub.Fingerprint()))
	if _, err := c.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish (does the stream exist? start `iseed serve` first): %w", err)
	}
	if _, err := fmt.Fprintln(e.stdout, sub.ID); err != nil || !wait {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return follow(wctx, ctx, c, tenant, sub, before, e.stdout)
}

// lastDeadLetter is the sequence of the submission's newest dead letter (0: none).
func lastDeadLetter(ctx context.Context, c *cliConn, tenant, id string) (uint64, error) {
	m, err := c.res.DLQ.GetLastMsgForSubject(ctx, c.res.Layout.DLQSubject(tenant, id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("dead letters: %w", err)
	}
	return m.Sequence, nil
}

// follow polls the submission's record and dead letters until it has an
// outcome or wctx ends; ctx is the command's (an interrupt, not a timeout).
func follow(wctx, ctx context.Context, c *cliConn, tenant string, sub *consumer.Submission, before uint64, w io.Writer) error {
	store := record.NewStore(c.res.Records)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	state := "not yet picked up by iseed serve"
	for {
		rec, _, err := store.Get(wctx, tenant, sub.ID)
		if err != nil && !errors.Is(err, record.ErrNotFound) && wctx.Err() == nil {
			return err
		}
		if rec != nil && rec.Fingerprint == sub.Fingerprint() {
			state = rec.State
			if done, err := outcome(w, rec); done {
				return err
			}
		}
		if seq, err := lastDeadLetter(wctx, c, tenant, sub.ID); err == nil && seq > before {
			// The record says more than its dead letter when it is this
			// payload's (it was rejected or failed meanwhile).
			if rec, _, err := store.Get(wctx, tenant, sub.ID); err == nil && rec.Fingerprint == sub.Fingerprint() {
				if done, err := outcome(w, rec); done {
					return err
				}
			}
			return deadLettered(wctx, c, seq, w)
		}
		select {
		case <-tick.C:
		case <-wctx.Done():
			if ctx.Err() != nil {
				return ctx.Err()
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
		fmt.Fprintf(w, "failed: %s/%s: %s; see 'iseed dlq list --tenant %s'\n", r.Tenant, r.ID, r.Reason, r.Tenant)
		return true, silent(exitFailed)
	}
	fmt.Fprintf(w, "submitted: %s/%s is upstream request %s (%s%s), now %s\n", r.Tenant, r.ID, r.RequestID, r.Service, priceText(r.Price), r.State)
	return true, nil
}

// deadLettered prints why the submission's message was dead-lettered.
func deadLettered(ctx context.Context, c *cliConn, seq uint64, w io.Writer) error {
	m, err := c.res.DLQ.GetMsg(ctx, seq)
	if err != nil {
		return fmt.Errorf("dead letter %d: %w", seq, err)
	}
	r := dlq.Parse(seq, m.Header)
	fmt.Fprintf(w, "dead-lettered: %s/%s as dead letter %d, reason %s: %s; see 'iseed dlq show %d'\n",
		r.Tenant, r.SubmissionID, seq, r.Reason, r.Error, seq)
	return silent(exitFailed)
}

// problemLine is one problem for people: field, code, message.
func problemLine(p publisher.Problem) string {
	field := p.Field
	if field == "" {
		field = "-"
	}
	if p.Name != "" && p.Name != p.Field {
		field += " (" + p.Name + ")"
	}
	return fmt.Sprintf("%s %s: %s", field, p.Code, p.Message)
}
