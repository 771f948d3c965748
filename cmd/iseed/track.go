package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	shownpkg "github.com/iseed-dev/iseed/internal/shown"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/spf13/cobra"
)

func newTrackCmd(e *env) *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List the requests still being tracked, oldest first",
		Long: "Lists the requests still being tracked, oldest first: tenant, submission, state (as iseed top counts it), the\n" +
			"upstream's state, request, service and when it was submitted. An upstream state the API does not publish (the\n" +
			"upstream's free text, which may name the person) is shown as ‹unpublished›, in JSON too; iseed status ID shows it.",
		Args: noArgs,
	}
	state := list.Flags().String("state", "", "only this state, as 'iseed top' counts it: submitted, in_progress, data_ready or "+
		"awaiting_document (Visura evasa upstream, final document not stored yet; completed means the same)")
	older := list.Flags().Duration("older-than", 0, "only requests submitted longer ago than this, e.g. 72h")
	out := addOutputFlag(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		format, err := out.format(e.stdout)
		if err != nil {
			return err
		}
		want, err := openStateFlag(*state)
		if err != nil {
			return err
		}
		if *older < 0 {
			return usagef("--older-than: want a duration of 0 or more, such as 72h, got %s", *older)
		}
		c, err := openCLI(cmd.Context(), e.stderr, true)
		if err != nil {
			return err
		}
		defer c.close()
		now := time.Now()
		recs, err := tracking.ListOpen(cmd.Context(), c.res, tracking.OpenFilter{OlderThan: *older, Now: now})
		if err != nil {
			return err
		}
		if want != "" {
			recs = slices.DeleteFunc(recs, func(r *record.Record) bool { return overview.OpenState(r) != want })
		}
		if format == formatJSON {
			return writeJSON(e.stdout, openRows(recs))
		}
		return printOpen(e, recs, now)
	}
	return group("track", "List the requests still being tracked", list)
}

// openStateFlag checks --state against the open states the overview counts
// and returns the one it names ("" for any). completed, the name this flag
// took before, means awaiting_document: an open record in it awaits its
// final document.
func openStateFlag(s string) (string, error) {
	open := []string{record.StateSubmitted, record.StateInProgress, record.StateDataReady, overview.StateAwaitingDocument}
	switch {
	case s == "" || slices.Contains(open, s):
		return s, nil
	case s == record.StateCompleted:
		return overview.StateAwaitingDocument, nil
	}
	return "", usagef("--state %q is not the state of an open request: want one of %s", s, strings.Join(open, ", "))
}

// openRow is one open request in JSON.
type openRow struct {
	Tenant         string    `json:"tenant"`
	ID             string    `json:"id"`
	State          string    `json:"state"`
	StatoRichiesta string    `json:"stato_richiesta"`
	RequestID      string    `json:"request_id"`
	Service        string    `json:"service"`
	Submitted      time.Time `json:"submitted"`
}

func openRows(recs []*record.Record) []openRow {
	rows := make([]openRow, len(recs))
	for i, r := range recs {
		rows[i] = openRow{r.Tenant, r.ID, overview.OpenState(r), shownpkg.State(r.StatoRichiesta), r.RequestID, r.Service, r.SubmittedAt().UTC()}
	}
	return rows
}

func printOpen(e *env, recs []*record.Record, now time.Time) error {
	w := newTable(e.stdout)
	fmt.Fprintln(w, "TENANT\tSUBMISSION\tSTATE\tUPSTREAM\tREQUEST\tSERVICE\tSUBMITTED\tAGE")
	for _, r := range recs {
		at := r.SubmittedAt()
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Tenant, r.ID, overview.OpenState(r), shownpkg.State(r.StatoRichiesta), shown(r.RequestID),
			shown(r.Service), at.UTC().Format(time.RFC3339), overview.Age(now.Sub(at)))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.stderr, "%d open request(s)\n", len(recs))
	return err
}
