package main

import (
	"context"
	"errors"
	"io"
	"time"

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
		ov, err := overview.New(overview.Config{OverdueAfter: c.cfg.overdueSpan()}, overview.Deps{Resources: c.res,
			SpendToday: spendToday(c), Paused: pausedScopes(c)})
		if err != nil {
			return err
		}
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { _ = ov.Run(runCtx) }() // ends with runCtx, before return
		select {
		case <-ov.Ready():
		case <-time.After(30 * time.Second):
			return errors.New("the overview did not finish reading the records and dead letters within 30s")
		case <-ctx.Done():
			return nil
		}
		if format == formatTable && isTerminal(e.stdout) {
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
