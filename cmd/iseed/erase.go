package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/servertime"
	"github.com/spf13/cobra"
)

// What iseed erase did with one submission (erasure.Outcome).
const (
	erased      = "erased"       // something was removed, or the record scrubbed
	nothingLeft = "nothing_left" // erased before: nothing more to remove
	refusedOpen = "refused"      // open, or not the person of the tax code given: untouched
	unknownID   = "unknown"      // no record of it: untouched
	eraseFailed = "failed"       // stopped part way: what the counts say is done
)

// What iseed erase did with the person's ISEE history entry
// (erasureReport.History).
const (
	historyDeleted    = "deleted"
	historyNoEntry    = "no_entry"
	historyNotTouched = "not_touched"
)

// erasure is what iseed erase did with one submission: counts, never what
// was removed.
type erasure struct {
	Tenant     string `json:"tenant"`
	Submission string `json:"submission"`
	Outcome    string `json:"outcome"`
	Why        string `json:"why,omitempty"`
	// DeadLetters, SubmissionMessages, EventMessages and Documents count
	// what was removed: dead letters (overwritten on disk), messages in
	// the submissions stream (overwritten on disk) and in the events
	// stream, and objects in the documents buckets.
	DeadLetters        int  `json:"dead_letters"`
	SubmissionMessages int  `json:"submission_messages"`
	EventMessages      int  `json:"event_messages"`
	Documents          int  `json:"documents"`
	RecordScrubbed     bool `json:"record_scrubbed"` // false: nothing left to scrub, or not reached

	otherPerson bool // refused: its record names another person than the tax code given
}

// erasureReport is what iseed erase -o json prints.
type erasureReport struct {
	Submissions []erasure `json:"submissions"`
	History     string    `json:"isee_history"`
	HistoryWhy  string    `json:"isee_history_why,omitempty"`
}

func newEraseCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "erase --tenant T ID...",
		Short: "Erase submissions' personal data now (a right-to-erasure request)",
		Long: "Erases, now rather than at the end of their retentions, what iseed keeps of a person's submissions, one tenant's,\n" +
			"for a data-protection officer's erasure request (docs/security.md, \"Erasing one person sooner\"). For each\n" +
			"submission it purges its dead letters (their bytes overwritten on disk) first, then removes its messages in\n" +
			"the submissions stream (overwritten on disk) and in the events stream, deletes its documents, and scrubs its\n" +
			"record now, as ISEED_RECORD_SCRUB_AFTER would: the record stays, without anything personal, so that a copy of\n" +
			"the submission is still never sent or paid again. Then it purges its dead letters and events once more: a\n" +
			"rejection or failure the pipeline was finishing meanwhile (its record written, its dead letter and event not\n" +
			"yet stored) leaves nothing behind; what it stores after that purge it removes itself, finding the record\n" +
			"scrubbed. An open submission (claimed, held, submitted, in progress,\n" +
			"data ready, or completed while its final document is awaited) is refused and left as it is: erase it once it\n" +
			"is closed; so is a closed one whose tracking task is still there (its gave_up dead letter or final events are\n" +
			"yet to be stored): run the command again once tracking is done with it. An unknown id is said and left.\n" +
			"With --tax-code-stdin it reads the person's tax code from standard input (never from the command line, which\n" +
			"the shell's history keeps) and deletes their ISEE history entry;\n" +
			"a submission whose record names another person is then refused. It prints counts, never what it removed.\n" +
			"Run twice, it says there is nothing left to erase. The tenant's files bucket (nats-os:// uploads) is the\n" +
			"tenant's: delete those files there. It asks for a confirmation first (--yes skips it); with --tax-code-stdin,\n" +
			"whose standard input holds the tax code, --yes is required.",
		Annotations: map[string]string{exitCodesKey: "0 erased, or nothing left to erase; 1 not confirmed, an unknown submission, an open one refused, " +
			"or an error (the others named are erased); 2 usage or configuration error"},
	}
	tenant := cmd.Flags().String("tenant", "", "the submissions' `TENANT` (required)")
	taxStdin := cmd.Flags().Bool("tax-code-stdin", false, "read the person's tax code from standard input and delete their ISEE history entry (needs --yes)")
	yes := cmd.Flags().BoolP("yes", "y", false, "do not ask for confirmation")
	out := addOutputFlag(cmd)
	cmd.Args = func(_ *cobra.Command, args []string) error {
		if err := tenantIDs(*tenant, args); err != nil {
			return err
		}
		switch {
		case len(args) == 0:
			return usagef("missing ID: the submissions to erase")
		case *taxStdin && !*yes:
			return usagef("--tax-code-stdin needs --yes: standard input holds the tax code, not an answer to a confirmation")
		}
		return nil
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		format, err := out.format(e.stdout)
		if err != nil {
			return err
		}
		ids := distinct(args)
		if !*yes && !confirm(e, fmt.Sprintf("erase what iseed keeps of %d submission(s) of tenant %s, for good? [y/N] ", len(ids), *tenant)) {
			fmt.Fprintln(e.stderr, "not confirmed: nothing erased (answer y, or pass --yes to erase without asking)")
			return silent(exitFailed)
		}
		var taxCode string
		if *taxStdin {
			if taxCode, err = readTaxCode(e.stdin); err != nil {
				return err
			}
		}
		rep, err := eraseSubmissions(cmd.Context(), e, *tenant, ids, taxCode)
		if err != nil {
			return err
		}
		if format == formatJSON {
			err = writeJSON(e.stdout, rep)
		} else {
			err = printErasure(e, *tenant, rep)
		}
		if err == nil && (rep.History == historyNotTouched && taxCode != "" ||
			slices.ContainsFunc(rep.Submissions, func(x erasure) bool { return x.Outcome != erased && x.Outcome != nothingLeft })) {
			return silent(exitFailed)
		}
		return err
	}
	return cmd
}

// tenantIDs checks the --tenant of a command about some of one tenant's
// submissions, and their ids.
func tenantIDs(tenant string, ids []string) error {
	switch {
	case tenant == "":
		return usagef("missing --tenant T: the submissions' tenant")
	case !record.ValidToken(tenant):
		return usagef("--tenant must be letters, digits, _ or -, got %q", tenant)
	}
	for _, id := range ids {
		if !record.ValidToken(id) {
			return usagef("not a submission id: %q (letters, digits, _ or -)", id)
		}
	}
	return nil
}

// distinct is ids, each once, in the order given.
func distinct(ids []string) []string {
	var out []string
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// readTaxCode reads the tax code, one line, from standard input. A
// mistake never quotes it.
func readTaxCode(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("--tax-code-stdin: read standard input: %w", err)
	}
	tc := strings.TrimSpace(line)
	if tc == "" {
		return "", usagef("--tax-code-stdin: standard input holds no tax code (give it on one line: printf '%%s\\n' \"$CF\" | iseed erase --yes --tax-code-stdin …)")
	}
	if reason := schema.CheckPersonalTaxCode(tc); reason != "" {
		return "", usagef("--tax-code-stdin: the first line of standard input is not a person's tax code (%s)", reason)
	}
	return strings.ToUpper(tc), nil
}

// eraseSubmissions erases ids of tenant and, with a tax code, the
// person's history entry. It returns an error only when it could not
// start; what failed for one submission is in its erasure.
func eraseSubmissions(ctx context.Context, e *env, tenant string, ids []string, taxCode string) (*erasureReport, error) {
	q, c, err := openQueueOn(ctx, e.stderr, false)
	if err != nil {
		return nil, err
	}
	defer c.close()
	er := newEraser(c, q, tenant)
	// The scrub's time is the NATS server's, as the daemon's clock is: the
	// pipeline compares it with a message's publication (consumer/erased.go),
	// and this command may run on a machine whose clock is off. Until the
	// sync succeeds it is this machine's.
	clock := servertime.New(c.res.Keys, 0)
	if err := clock.Sync(ctx); err != nil {
		fmt.Fprintf(e.stderr, "iseed: the NATS server's time could not be read (%v): the scrubs are dated by this machine's clock\n", err)
	}
	er.now = clock.Now
	var person string
	if taxCode != "" {
		if person, err = er.personKey(ctx, taxCode); err != nil {
			return nil, err
		}
	}
	rep := &erasureReport{Submissions: make([]erasure, len(ids))}
	var todo []string
	for i, id := range ids {
		if rep.Submissions[i] = er.check(ctx, id, person); rep.Submissions[i].Outcome == "" {
			todo = append(todo, id)
		}
	}
	msgs, scanErr := er.submissionMessages(ctx, todo)
	for i := range rep.Submissions {
		x := &rep.Submissions[i]
		if x.Outcome != "" {
			continue
		}
		if scanErr != nil {
			x.Outcome, x.Why = eraseFailed, fmt.Sprintf("nothing erased: %v; run the command again", scanErr)
			continue
		}
		er.erase(ctx, x, msgs[x.Submission])
	}
	rep.History, rep.HistoryWhy = er.history(ctx, taxCode, person, rep.Submissions)
	return rep, nil
}

// printErasure prints a report for people: a line per submission (on
// standard error when it was not erased) and one for the ISEE history.
func printErasure(e *env, tenant string, rep *erasureReport) error {
	for _, x := range rep.Submissions {
		name := tenant + "/" + x.Submission
		counts := fmt.Sprintf("%d dead letter(s), %d submission message(s), %d event(s), %d document(s) removed",
			x.DeadLetters, x.SubmissionMessages, x.EventMessages, x.Documents)
		switch x.Outcome {
		case erased, nothingLeft:
			scrub := "record scrubbed"
			if !x.RecordScrubbed {
				scrub = "record scrubbed already"
			}
			what := "erased"
			if x.Outcome == nothingLeft {
				what = "nothing left to erase"
			}
			fmt.Fprintf(e.stdout, "%s: %s: %s; %s\n", name, what, counts, scrub)
		case eraseFailed:
			fmt.Fprintf(e.stderr, "%s: not all erased: %s (so far: %s)\n", name, x.Why, counts)
		default:
			fmt.Fprintf(e.stderr, "%s: not erased: %s\n", name, x.Why)
		}
	}
	line := "ISEE history: "
	switch rep.History {
	case historyDeleted:
		line += "the person's entry deleted"
	case historyNoEntry:
		line += "no entry for this person: nothing to delete"
	default:
		line += "not touched: " + rep.HistoryWhy
	}
	_, err := fmt.Fprintln(e.stdout, line)
	return err
}
