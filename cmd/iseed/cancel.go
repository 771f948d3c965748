package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/servertime"
	"github.com/spf13/cobra"
)

// cancellation is what iseed cancel did with one submission.
type cancellation struct {
	Tenant     string `json:"tenant"`
	Submission string `json:"submission"`
	consumer.CancelResult
}

func newCancelCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cancel --tenant T (ID... | --all-held)",
		Short: "Cancel held submissions (a spending cap, a pause, a fair share), so that they are never sent",
		Long: "Cancels held submissions (state held: by a spending cap, an operator's pause, or their tenant's fair share of\n" +
			"the upstream budget), so that they are never sent nor paid: a tenant's runaway backlog that each new cap period\n" +
			"or its turns would otherwise send, until ISEED_MAX_AGE;\n" +
			"or a held submission of a person who asked to be erased (iseed erase refuses open submissions: cancel it,\n" +
			"then erase it). Each is marked cancelled on its record (compare-and-set: a release of it waiting for an\n" +
			"upstream token can then send nothing) and its message sent again, and the daemon fails it\n" +
			"cancelled_by_operator within moments: its dead letter (iseed dlq replay sends it after all), its failed event,\n" +
			"a reservation given back. One whose message is gone from the submissions stream, or that the stream refuses\n" +
			"(its tenant's quota, a size limit lowered since), the daemon's holds pass fails itself within seconds. A claimed submission not sent\n" +
			"yet (a worker waiting for its upstream token, or its message handed back for a later delivery) is cancelled too:\n" +
			"its delivery sends nothing, and the next one fails it. One sent, being sent (a POST of it may have been made) or\n" +
			"closed is said and left as it is, as is an unknown id (never received, or not claimed yet).\n" +
			"--all-held cancels every submission of the tenant held now. It asks for a confirmation first (--yes skips it).",
		Annotations: map[string]string{exitCodesKey: "0 every one cancelled (or cancelled already); 1 not confirmed, one not held, " +
			"being sent or unknown, or an error (it stops there: those before it are cancelled; run it again for the rest); 2 usage or configuration error"},
	}
	tenant := cmd.Flags().String("tenant", "", "the submissions' `TENANT` (required)")
	all := cmd.Flags().Bool("all-held", false, "every submission of the tenant held now, instead of IDs")
	yes := cmd.Flags().BoolP("yes", "y", false, "do not ask for confirmation")
	out := addOutputFlag(cmd)
	cmd.Args = func(_ *cobra.Command, args []string) error {
		if err := tenantIDs(*tenant, args); err != nil {
			return err
		}
		switch {
		case *all && len(args) > 0:
			return usagef("--all-held takes no ID: it cancels every held submission of the tenant")
		case !*all && len(args) == 0:
			return usagef("missing ID: the submissions to cancel (or --all-held)")
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		format, err := out.format(e.stdout)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		c, err := openCLI(ctx, e.stderr, true)
		if err != nil {
			return err
		}
		defer c.close()
		ids := distinct(args)
		what := fmt.Sprintf("%d submission(s)", len(ids))
		if *all {
			if ids, err = consumer.HeldIDs(ctx, c.res, *tenant); err != nil {
				return err
			}
			if len(ids) == 0 {
				fmt.Fprintf(e.stderr, "tenant %s has no held submission: nothing to cancel\n", *tenant)
				if format == formatJSON {
					return writeJSON(e.stdout, []cancellation{})
				}
				return nil
			}
			what = fmt.Sprintf("every held submission (%d)", len(ids))
		}
		if !*yes && !confirm(e, fmt.Sprintf("cancel %s of tenant %s, so that they are never sent? [y/N] ", what, *tenant)) {
			fmt.Fprintln(e.stderr, "not confirmed: nothing cancelled (answer y, or pass --yes to cancel without asking)")
			return silent(exitFailed)
		}
		rep, err := cancelUnsent(ctx, e, c, *tenant, ids)
		if format == formatJSON {
			if werr := writeJSON(e.stdout, rep); werr != nil {
				return werr
			}
		} else {
			printCancellations(e, rep)
		}
		if err != nil {
			return err
		}
		if slices.ContainsFunc(rep, func(x cancellation) bool { return x.Outcome != consumer.CancelDone }) {
			return silent(exitFailed)
		}
		return nil
	}
	return cmd
}

// cancelUnsent cancels ids of tenant, in order; it stops at the first error,
// returning what it did before.
func cancelUnsent(ctx context.Context, e *env, c *cliConn, tenant string, ids []string) ([]cancellation, error) {
	// The mark's time is the NATS server's, as the daemon's clock is; until
	// the sync succeeds it is this machine's.
	clock := servertime.New(c.res.Keys, 0)
	if err := clock.Sync(ctx); err != nil {
		fmt.Fprintf(e.stderr, "iseed: the NATS server's time could not be read (%v): the cancellations are dated by this machine's clock\n", err)
	}
	rep := make([]cancellation, 0, len(ids))
	for i, id := range ids {
		res, err := consumer.CancelUnsent(ctx, c.js, c.res, tenant, id, clock.Now())
		if err != nil && i+1 < len(ids) {
			return rep, fmt.Errorf("%w; %d more not tried: run the command again", err, len(ids)-i-1)
		}
		if err != nil {
			return rep, err
		}
		rep = append(rep, cancellation{Tenant: tenant, Submission: id, CancelResult: res})
	}
	return rep, nil
}

// printCancellations prints a line per submission: on standard output when
// it is cancelled, on standard error when not.
func printCancellations(e *env, rep []cancellation) {
	for _, x := range rep {
		name := x.Tenant + "/" + x.Submission
		switch {
		case x.Outcome == consumer.CancelDone && x.Why != "":
			fmt.Fprintf(e.stdout, "%s: cancelled: %s\n", name, x.Why)
		case x.Outcome == consumer.CancelDone:
			fmt.Fprintf(e.stdout, "%s: cancelled: the daemon fails it %s, nothing sent\n", name, "cancelled_by_operator")
		case x.State != "":
			fmt.Fprintf(e.stderr, "%s: not cancelled (%s): %s\n", name, x.State, x.Why)
		default:
			fmt.Fprintf(e.stderr, "%s: not cancelled: %s\n", name, x.Why)
		}
	}
}
