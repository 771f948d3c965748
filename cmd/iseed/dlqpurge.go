package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/spf13/cobra"
)

// selection is what a replay or purge acts on: sequences, or a filter.
type selection struct {
	seqs     []uint64
	filter   dlq.Filter
	byFilter bool
}

// selectArgs reads the sequences or the filter flags (not both).
func selectArgs(args []string, f *filterFlags, all bool) (selection, error) {
	seqs, err := parseSeqs(args)
	if err != nil {
		return selection{}, err
	}
	if len(seqs) > 0 {
		if f.set() || all {
			return selection{}, usagef("name dead letters by sequence or select them with filters, not both")
		}
		return selection{seqs: seqs}, nil
	}
	filter, err := f.filter(time.Now())
	return selection{filter: filter, byFilter: true}, err
}

// letters returns the sequences the selection names.
func (s selection) letters(ctx context.Context, q *dlq.Queue) ([]uint64, error) {
	if !s.byFilter {
		return s.seqs, nil
	}
	dls, err := q.List(ctx, s.filter)
	if err != nil {
		return nil, err
	}
	seqs := make([]uint64, len(dls))
	for i, d := range dls {
		seqs[i] = d.Seq
	}
	return seqs, nil
}

func newDLQPurgeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "purge (SEQ... | [--reason R] [--tenant T] [--since T] [--until T] | --all)",
		Short: "Remove dead letters without replaying them",
		Long: "Removes dead letters for good, after a confirmation (--yes skips it). Without sequences it needs a\n" +
			"filter, or --all for every dead letter. Their submissions stay rejected or failed. A purged letter's\n" +
			"bytes are overwritten on disk; the submission message itself stays in the submissions stream for\n" +
			"its retention (ISEED_RETENTION, 30 days by default). A letter another command is replaying meanwhile is not purged, saying so;\n" +
			"one whose replay was published but not removed is removed, saying it was replayed.",
		Annotations: map[string]string{exitCodesKey: "0 purged, or nothing matched; 1 not confirmed, a sequence not found or being replayed, or an error; 2 usage or configuration error"},
	}
	f := addFilterFlags(cmd.Flags())
	all := cmd.Flags().Bool("all", false, "every dead letter (instead of a filter)")
	yes := cmd.Flags().BoolP("yes", "y", false, "do not ask for confirmation")
	cmd.Args = func(_ *cobra.Command, args []string) error {
		sel, err := selectArgs(args, f, *all)
		if err == nil && sel.byFilter && sel.filter.Empty() && !*all {
			err = usagef("name dead letters by sequence, select them with --reason, --tenant, --since or --until, or purge every one with --all")
		}
		return err
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		sel, _ := selectArgs(args, f, *all)
		q, closeQ, err := openQueue(cmd.Context(), e.stderr, false)
		if err != nil {
			return err
		}
		defer closeQ()
		return purge(cmd.Context(), e, q, sel, *yes)
	}
	return cmd
}

func purge(ctx context.Context, e *env, q *dlq.Queue, sel selection, yes bool) error {
	seqs, err := sel.letters(ctx, q)
	if err != nil {
		return err
	}
	if len(seqs) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no dead letters match: nothing purged")
		return err
	}
	if !yes && !confirm(e, fmt.Sprintf("purge %d dead letter(s) for good? [y/N] ", len(seqs))) {
		fmt.Fprintln(e.stderr, "not confirmed: nothing purged (answer y, or pass --yes to purge without asking)")
		return silent(exitFailed)
	}
	failed := 0
	for i, seq := range seqs {
		l, err := q.Get(ctx, seq)
		if err == nil {
			err = q.Purge(ctx, seq)
		}
		switch {
		case errors.Is(err, dlq.ErrNotFound):
			fmt.Fprintf(e.stderr, "no dead letter %d (replayed or purged already?)\n", seq)
			failed++
		case errors.Is(err, dlq.ErrReplayedAlready):
			fmt.Fprintf(e.stderr, "dead letter %d not purged: it was replayed (by another command meanwhile, or by an earlier replay that could not remove it); "+
				"its submission reopens, and the letter is gone from the queue\n", seq)
			failed++
		case errors.Is(err, dlq.ErrReplayUnderWay):
			fmt.Fprintf(e.stderr, "dead letter %d not purged: %v\n", seq, dlq.ErrReplayUnderWay)
			failed++
		case err != nil:
			fmt.Fprintf(e.stderr, "stopped: %d dead letter(s) not looked at; those said purged above are gone for good\n", len(seqs)-i)
			return err
		default:
			fmt.Fprintf(e.stdout, "purged dead letter %s, reason %s\n", letterName(l.DeadLetter), l.Reason)
		}
	}
	if failed > 0 {
		return silent(exitFailed)
	}
	return nil
}

// confirm asks on standard error and reads one line of standard input: y
// or yes confirms.
func confirm(e *env, prompt string) bool {
	fmt.Fprint(e.stderr, prompt)
	line, err := bufio.NewReader(e.stdin).ReadString('\n')
	if err != nil {
		fmt.Fprintln(e.stderr) // no answer, no newline: what follows starts a line of its own
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}
