package main

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/overview"
	"github.com/spf13/cobra"
)

func newTopCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top",
		Short: "The pipeline at a glance, refreshing (one snapshot with -o json)",
		Long: "Backlog and in flight per consumer, open requests by state and the oldest, dead letters by reason,\n" +
			"held submissions and euros committed today. On a terminal it refreshes until interrupted; with\n" +
			"-o json (or when standard output is not a terminal) it prints one snapshot.",
		Args: noArgs,
	}
	every := cmd.Flags().Duration("every", 2*time.Second, "refresh interval on a terminal")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
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
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		refresh := format == formatTable && isTerminal(e.stdout)
		today := spendToday(c)
		if refresh {
			if today, err = followSpendToday(runCtx, c); err != nil {
				return err
			}
		}
		ov, err := overview.New(overview.Config{OverdueAfter: c.cfg.overdueSpan()}, overview.Deps{Resources: c.res,
			SpendToday: today, Paused: pausedScopes(c)})
		if err != nil {
			return err
		}
		go func() { _ = ov.Run(runCtx) }() // ends with runCtx, before return
		select {
		case <-ov.Ready():
		case <-time.After(30 * time.Second):
			return errors.New("the overview did not finish reading the records and dead letters within 30s")
		case <-ctx.Done():
			return nil
		}
		if refresh {
			return overview.Top(ctx, e.stdout, *every, ov.Snapshot)
		}
		s, err := ov.Snapshot(ctx) // one snapshot: JSON, or a table for a file or a pipe
		if err != nil {
			return err
		}
		if format == formatJSON {
			return writeEscapedJSON(e.stdout, func(w io.Writer) error { return overview.WriteJSON(w, s) })
		}
		return overview.WriteTable(e.stdout, s)
	}
	return cmd
}

// followSpendToday is the euros the ledger has for today (Europe/Rome) as
// a running total that follows the ledger, as the daemon's overview has
// it (ledger.Tally), once that total has caught up. Top refreshes every
// few seconds, and reading the whole day at each refresh (spendToday: a
// snapshot's one read) would be 100,000 entries every 2 s on an onboarding
// day, for as long as an operator watches. The total follows until ctx is
// done.
func followSpendToday(ctx context.Context, c *cliConn) (func(context.Context) (float64, error), error) {
	loc, err := money.Rome()
	if err != nil {
		return nil, err
	}
	tally := ledger.New(c.js, c.res.Ledger, ledger.Config{Prefix: c.res.Layout.Prefix}).
		NewTally(func(now time.Time) money.Period { return money.Day(now, loc) })
	go func() { _ = tally.Run(ctx) }() // ends with ctx
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		if _, _, err := tally.Total(); !errors.Is(err, ledger.ErrTallyNotReady) {
			break
		}
		select {
		case <-tick.C:
		case <-deadline:
			return nil, errors.New("the ledger's entries of today were not read within 30s")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return func(context.Context) (float64, error) {
		_, total, err := tally.Total()
		return total.Euros(), err
	}, nil
}
