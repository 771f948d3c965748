package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/iseed-dev/iseed/tracking"
)

// runTrack shows open requests: iseed track list.
func runTrack(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "list" {
		fmt.Fprintln(e.stderr, "Usage: iseed track list [--state S] [--older-than D]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return &exitError{code: 2}
	}
	fs := newFlagSet(e, "track list", "[--state S] [--older-than D]\n\nLists the requests still being tracked, oldest first.")
	state := fs.String("state", "", "only this state: submitted, in_progress or data_ready (completed: waiting for its document)")
	older := fs.Duration("older-than", 0, "only requests submitted longer ago than this, e.g. 72h")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, err := openCLI(ctx, true)
	if err != nil {
		return err
	}
	defer c.close()
	now := time.Now()
	recs, err := tracking.ListOpen(ctx, c.res, tracking.OpenFilter{State: *state, OlderThan: *older, Now: now})
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TENANT\tSUBMISSION\tSTATE\tUPSTREAM\tREQUEST\tSERVICE\tSUBMITTED\tAGE")
	for _, r := range recs {
		at := r.SubmittedAt()
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Tenant, r.ID, r.State, r.StatoRichiesta, r.RequestID,
			r.Service, at.UTC().Format(time.RFC3339), now.Sub(at).Round(time.Minute))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stderr, "%d open request(s)\n", len(recs))
	return err
}
