package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/spf13/cobra"
	"golang.org/x/time/rate"
)

func newDLQReplayCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay (SEQ... | --reason R [--tenant T] [--since T] [--until T])",
		Short: "Republish dead letters to their original subject",
		Long: "Replays dead letters: each is republished to its original subject, signed with the daemon's\n" +
			"replay key, then removed from the queue. The pipeline never sends a submission twice: one that\n" +
			"has its upstream request is never sent again, and one whose earlier POST went unanswered is\n" +
			"reconciled with the upstream first. A replay reopens a submission at most once.\n\n" +
			"A dead letter that would be rejected again unchanged (invalid, malformed, conflict) is refused,\n" +
			"with what to do instead, and so is one that would reopen nothing: a gave_up one whose submission is\n" +
			"completed, another whose submission has its upstream request by now or was reopened by it already,\n" +
			"or is open again (held, or claimed under a live lease: another of its letters was replayed; wait until it ends).\n" +
			"So is one whose payload is another submission than the one its submission was recorded with, while that\n" +
			"submission is failed or rejected with nothing sent: a plain replay never changes what a submission sends (the\n" +
			"pipeline refuses it as a conflict; an older one would send it in place of the recorded one); correct it\n" +
			"explicitly with --edit or --payload.\n" +
			"So is one whose submission its producer withdrew (reason withdrawn, or withdrawn after it failed or\n" +
			"was rejected with nothing sent): the replay would send it against the producer's wish. --tenant-asked\n" +
			"replays it all the same, or corrects it: only when the tenant asks. Its replays are marked so (signed): the\n" +
			"pipeline reopens a withdrawn submission only for a marked replay, so one withdrawn between the check and\n" +
			"the replay fails again instead, a dead letter of its own.\n" +
			"--edit SEQ opens $VISUAL or $EDITOR on its payload (--payload FILE reads a\n" +
			"corrected one, - for standard input) and replays the correction. A correction keeps the dead letter's\n" +
			"submission id; only a conflict's, or a letter whose id could not be read, may take another, one no\n" +
			"submission has. A correction of a letter whose submission is open again (another of its letters was\n" +
			"replayed: it is on its way, or held) is refused: the pipeline would take it for a conflict. The payload\n" +
			"being edited is in a directory of its own in $TMPDIR, readable by you only, removed with whatever\n" +
			"the editor put there (a swap file, a backup) after the edit, also when the session hangs up.\n\n" +
			"Safe to interrupt and run again: replayed dead letters are gone, the rest are still there. Two\n" +
			"commands replaying one dead letter at once, with the same payload or not, publish one replay: the\n" +
			"other says it did not replay it.",
		Annotations: map[string]string{exitCodesKey: "0 every selected dead letter replayed (or nothing matched); " +
			"1 some were refused, not found or failed, or an error; 2 usage or configuration error"},
	}
	f := addFilterFlags(cmd.Flags())
	dry := cmd.Flags().Bool("dry-run", false, "say what would be replayed and what would be refused; change nothing")
	rateFlag := cmd.Flags().String("rate", "", "at most `RATE` replays, as N/s or N/m (default: no limit)")
	edit := cmd.Flags().Bool("edit", false, "edit one dead letter's payload in $VISUAL or $EDITOR (else vi) and replay the correction")
	payload := cmd.Flags().String("payload", "", "replay one dead letter with the corrected payload in `FILE` (- for standard input)")
	tenantAsked := cmd.Flags().Bool("tenant-asked", false, "replay dead letters whose submission its producer withdrew: the tenant asks that they be sent after all")
	cmd.Args = func(_ *cobra.Command, args []string) error {
		_, err := replayArgs(args, f, *edit, *payload)
		if err == nil {
			_, err = parseRate(*rateFlag)
		}
		return err
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		sel, _ := replayArgs(args, f, *edit, *payload)
		limit, _ := parseRate(*rateFlag)
		q, c, err := openQueueOn(cmd.Context(), e.stderr, !*dry)
		if err != nil {
			return err
		}
		defer c.close()
		r := &replayer{e: e, q: q, records: record.NewStore(c.res.Records), maxBytes: c.res.MaxSubmissionBytes(), dry: *dry, limit: limit, tenantAsked: *tenantAsked}
		if *edit || *payload != "" {
			return r.edited(cmd.Context(), sel.seqs[0], *payload)
		}
		seqs, err := sel.letters(cmd.Context(), q)
		if err != nil {
			return err
		}
		return r.all(cmd.Context(), seqs, sel.byFilter)
	}
	return cmd
}

// replayArgs checks a replay's command line: sequences or a filter with
// --reason; one sequence and nothing else for a correction.
func replayArgs(args []string, f *filterFlags, edit bool, payload string) (selection, error) {
	sel, err := selectArgs(args, f, false)
	switch {
	case err != nil:
		return sel, err
	case edit && payload != "":
		return sel, usagef("--edit and --payload both give a corrected payload: use one")
	case (edit || payload != "") && len(sel.seqs) != 1:
		return sel, usagef("a corrected payload replays exactly one dead letter: give its SEQ")
	case sel.byFilter && sel.filter.Reason == "":
		return sel, usagef("name dead letters by sequence, or select them with --reason R (and --tenant, --since, --until)")
	}
	return sel, nil
}

// parseRate reads --rate: N/s, N/m or N (per second); "" is no limit.
func parseRate(s string) (*rate.Limiter, error) {
	if s == "" {
		return nil, nil
	}
	num, unit, _ := strings.Cut(s, "/")
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || !(n > 0) || math.IsInf(n, 1) { // NaN and Inf parse, and would mean no limit at all
		return nil, usagef("--rate %q: want a positive number per second or minute, e.g. 5/s or 30/m", s)
	}
	switch unit {
	case "", "s":
	case "m", "min":
		n /= 60
	default:
		return nil, usagef("--rate %q: the unit is s or m, e.g. 5/s or 30/m", s)
	}
	return rate.NewLimiter(rate.Limit(n), 1), nil
}

// replayer replays dead letters one by one and says what happened to each.
type replayer struct {
	e        *env
	q        *dlq.Queue
	records  *record.Store // whether a correction's id is taken, a gave_up letter's submission
	maxBytes int           // the largest submission the pipeline takes (0: no limit)
	dry      bool
	limit    *rate.Limiter // nil: no limit
	// tenantAsked overrides the refusal of a letter whose submission its
	// producer withdrew (dlq.TenantAsked), and marks its replays so
	// (dlq.TenantAskedHeader): the pipeline reopens such a submission only
	// then.
	tenantAsked bool

	replayed, refused, failed int
}

// all replays seqs in order. A summary follows when there are several or
// they were selected by a filter.
func (r *replayer) all(ctx context.Context, seqs []uint64, summary bool) error {
	summary = summary || len(seqs) > 1
	progress := summary && isTerminal(r.e.stdout)
	var err error
	for i, seq := range seqs {
		prefix := ""
		if progress {
			prefix = fmt.Sprintf("[%d/%d] ", i+1, len(seqs))
		}
		if err = r.one(ctx, seq, prefix); err != nil {
			fmt.Fprintf(r.e.stderr, "interrupted: %d dead letter(s) not looked at; the replayed ones are gone from the queue, so the same command continues where this one stopped\n", len(seqs)-i)
			break
		}
	}
	if summary {
		r.summarize(len(seqs))
	}
	switch {
	case err != nil:
		return err
	case r.refused > 0 || r.failed > 0:
		return silent(exitFailed)
	}
	return nil
}

// one replays a dead letter; it fails only when ctx is done.
func (r *replayer) one(ctx context.Context, seq uint64, prefix string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := r.q.Get(ctx, seq)
	if err != nil {
		return r.failure(ctx, prefix, seq, err)
	}
	d := l.DeadLetter
	refused, err := r.check(ctx, l)
	if err != nil {
		return r.failure(ctx, prefix, seq, err)
	}
	if refused != nil {
		r.refused++
		word := "refused"
		if r.dry {
			word = "would refuse"
		}
		fmt.Fprintf(r.e.stderr, "%s%s %s\n", prefix, word, refusal(refused, d))
		return nil
	}
	if r.dry {
		r.replayed++
		fmt.Fprintf(r.e.stdout, "%swould replay dead letter %s to %s\n", prefix, letterName(d), d.OriginalSubject)
		return nil
	}
	if r.limit != nil {
		if err := r.limit.Wait(ctx); err != nil {
			return ctx.Err()
		}
	}
	if err := r.q.ReplayAs(ctx, seq, dlq.ReplayOptions{TenantAsked: r.tenantAsked}); errors.Is(err, dlq.ErrNotRemoved) {
		r.kept(prefix, d, "", err)
		return nil
	} else if err != nil {
		return r.failure(ctx, prefix, seq, err)
	}
	r.replayed++
	fmt.Fprintf(r.e.stdout, "%sreplayed dead letter %s to %s\n", prefix, letterName(d), d.OriginalSubject)
	return nil
}

// kept says that dead letter d was replayed (how: "", or a correction's
// ", corrected,") but is still in the queue (err, dlq.ErrNotRemoved), and
// what is left to do: replayed again it reopens nothing, so purge it. A
// plain replay and a correction say it alike. It counts as failed: the
// queue still lists it.
func (r *replayer) kept(prefix string, d dlq.DeadLetter, how string, err error) {
	r.failed++
	fmt.Fprintf(r.e.stderr, "%sreplayed dead letter %s%s to %s, but it is still in the queue (%v): replayed again it reopens nothing; remove it with 'iseed dlq purge %d'\n",
		prefix, letterName(d), how, d.OriginalSubject, err, d.Seq)
}

// check says why dead letter l is not replayed unchanged (nil: it is
// replayed); err when its submission's record cannot be read. The record
// says whether the replay can reopen anything (dlq.Queue.CheckReopen), and
// whether it would be a correction (dlq.CheckPlainReplay).
func (r *replayer) check(ctx context.Context, l *dlq.Letter) (refused, err error) {
	if refused = r.q.CheckOrigin(l); refused == nil {
		refused = consumer.CheckReplay(l.DeadLetter, l.Payload, r.maxBytes)
	}
	if refused != nil || !record.ValidToken(l.SubmissionID) {
		return refused, nil
	}
	rec, _, err := r.records.Get(ctx, l.Tenant, l.SubmissionID)
	if errors.Is(err, record.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	fingerprint := consumer.LetterFingerprint(l.Payload)
	if refused, err = r.reopens(ctx, l.DeadLetter, fingerprint, rec); refused != nil || err != nil {
		return refused, err
	}
	return dlq.CheckPlainReplay(l.DeadLetter, fingerprint, rec), nil
}

// reopens is dlq.Queue.CheckReopen, but for the refusal --tenant-asked
// overrides.
func (r *replayer) reopens(ctx context.Context, dl dlq.DeadLetter, fingerprint string, rec *record.Record) (refused, err error) {
	refused, err = r.q.CheckReopen(ctx, dl, fingerprint, rec)
	if r.tenantAsked {
		refused = dlq.TenantAsked(refused)
	}
	return refused, err
}

// failure counts and reports one dead letter that could not be replayed;
// it returns ctx's error when that is why.
func (r *replayer) failure(ctx context.Context, prefix string, seq uint64, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.failed++
	switch {
	case errors.Is(err, dlq.ErrNotFound):
		fmt.Fprintf(r.e.stderr, "%sno dead letter %d (replayed or purged already, or never stored)\n", prefix, seq)
	case errors.Is(err, dlq.ErrReplayedAlready):
		fmt.Fprintf(r.e.stderr, "%sdead letter %d not replayed by this command: %v; it reopens the submission once, and the letter is gone from the queue\n",
			prefix, seq, dlq.ErrReplayedAlready)
	case errors.Is(err, dlq.ErrReplayUnderWay):
		fmt.Fprintf(r.e.stderr, "%sdead letter %d not replayed: %v\n", prefix, seq, dlq.ErrReplayUnderWay)
	case errors.Is(err, dlq.ErrReplayDuplicate):
		fmt.Fprintf(r.e.stderr, "%sdead letter %d not replayed: %v\n", prefix, seq, dlq.ErrReplayDuplicate)
	default:
		fmt.Fprintf(r.e.stderr, "%sdead letter %d not replayed: %v\n", prefix, seq, err)
	}
	return nil
}

// failedOne is failure for a command that replays one dead letter (a
// correction): the same words as a plain replay's, then exit 1.
func (r *replayer) failedOne(ctx context.Context, seq uint64, err error) error {
	if err := r.failure(ctx, "", seq, err); err != nil {
		return err
	}
	return silent(exitFailed)
}

// refusal says, in words, why a dead letter is refused and what to do.
func refusal(err error, d dlq.DeadLetter) string {
	var re *dlq.RefusedError
	if errors.As(err, &re) {
		return fmt.Sprintf("dead letter %s, %s: %s; %s", letterName(d), re.Reason, re.Why, re.Advice)
	}
	return fmt.Sprintf("dead letter %s: %v", letterName(d), err)
}

func (r *replayer) summarize(n int) {
	if r.dry {
		fmt.Fprintf(r.e.stdout, "dry run: of %d dead letter(s), %d would be replayed, %d refused, %d not found\n", n, r.replayed, r.refused, r.failed)
		return
	}
	fmt.Fprintf(r.e.stdout, "of %d dead letter(s): %d replayed, %d refused, %d failed\n", n, r.replayed, r.refused, r.failed)
}
