package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newDLQCmd(e *env) *cobra.Command {
	c := group("dlq", "List, show, replay or purge dead letters",
		newDLQListCmd(e), newDLQShowCmd(e), newDLQReplayCmd(e), newDLQPurgeCmd(e))
	c.Long = "Dead letters are submissions that could not succeed, kept with the reason (docs/consumer.md).\n" +
		"Replaying one republishes it to its original subject; the pipeline never sends a submission twice."
	return c
}

// filterFlags select dead letters.
type filterFlags struct {
	tenant, reason, since, until string
}

func addFilterFlags(fs *pflag.FlagSet) *filterFlags {
	f := &filterFlags{}
	fs.StringVar(&f.tenant, "tenant", "", "only this `TENANT`'s dead letters")
	fs.StringVar(&f.reason, "reason", "", "only this `REASON`, e.g. upstream_rejected (docs/consumer.md lists them)")
	fs.StringVar(&f.since, "since", "", "only dead letters stored at or after `TIME`: RFC 3339, a date (2026-11-25, from its start, UTC) or a duration ago (24h)")
	fs.StringVar(&f.until, "until", "", "only dead letters stored at or before `TIME`: same forms as --since; a date includes its whole day")
	return f
}

func (f *filterFlags) set() bool {
	return f.tenant != "" || f.reason != "" || f.since != "" || f.until != ""
}

// filter makes the dlq.Filter, measuring durations back from now. A
// reason iseed does not know is a mistake: it would match nothing. The
// console and the gauges count letters stored without a reason under
// "unknown", and link to them so: the same name finds them here.
func (f *filterFlags) filter(now time.Time) (dlq.Filter, error) {
	out := dlq.Filter{Tenant: f.tenant, Reason: f.reason}
	if f.tenant != "" && !record.ValidToken(f.tenant) { // a wildcard would select nothing, and say so as if there were nothing
		return out, usagef("--tenant must be letters, digits, _ or -, got %q", f.tenant)
	}
	if known := append(dlq.Reasons(), dlq.ReasonUnknown); f.reason != "" && !slices.Contains(known, f.reason) {
		return out, usagef("--reason %q is not a dead-letter reason: want one of %s", f.reason, strings.Join(known, ", "))
	}
	var err error
	if out.Since, err = parseWhen("--since", f.since, now); err != nil {
		return out, err
	}
	if out.Until, err = parseWhen("--until", f.until, now); err != nil {
		return out, err
	}
	if _, err := time.Parse(time.DateOnly, f.until); err == nil {
		out.Until = out.Until.AddDate(0, 0, 1).Add(-time.Nanosecond) // "until 2026-12-01" includes that day
	}
	if !out.Since.IsZero() && !out.Until.IsZero() && out.Until.Before(out.Since) {
		return out, usagef("--until %s is before --since %s", f.until, f.since)
	}
	return out, nil
}

// parseWhen reads a point in time: RFC 3339, a date (midnight UTC), or a
// duration before now. "" is the zero time.
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	return parseWhenIn(flag, s, now, time.UTC)
}

// parseWhenIn is parseWhen with dates at midnight in loc.
func parseWhenIn(flag, s string, now time.Time, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("%s %q: want an RFC 3339 time (2026-11-25T10:00:00Z), a date (2026-11-25) or a duration ago (24h)", flag, s)
}

// parseSeqs reads dead-letter sequences, each once, in the order given.
func parseSeqs(args []string) ([]uint64, error) {
	seqs := make([]uint64, 0, len(args))
	for _, a := range args {
		n, err := strconv.ParseUint(a, 10, 64)
		if err != nil || n == 0 {
			return nil, usagef("not a dead-letter sequence: %q (dlq list shows them)", a)
		}
		// Each once: named twice (a pasted list), the second replay or
		// purge found it gone and counted it a failure (exit 1).
		if !slices.Contains(seqs, n) {
			seqs = append(seqs, n)
		}
	}
	return seqs, nil
}

// openQueue connects, binds to the layout and returns the dead-letter
// queue, with the daemon's replay key when replays are to be signed.
func openQueue(ctx context.Context, stderr io.Writer, signed bool) (*dlq.Queue, func(), error) {
	q, c, err := openQueueOn(ctx, stderr, signed)
	if err != nil {
		return nil, nil, err
	}
	return q, c.close, nil
}

// openQueueOn is openQueue, also returning the connection it is on.
func openQueueOn(ctx context.Context, stderr io.Writer, signed bool) (*dlq.Queue, *cliConn, error) {
	c, err := openCLI(ctx, stderr, true)
	if err != nil {
		return nil, nil, err
	}
	var key []byte
	if signed {
		if key, err = c.replayKey(ctx); err != nil {
			c.close()
			return nil, nil, err
		}
	}
	return dlq.NewQueue(c.js, c.res, key, consumer.ReplayMsgID(c.res.Layout)), c, nil
}

func newDLQListCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first",
		Long: "Lists dead letters oldest first: sequence, when it was stored, tenant, submission, reason,\n" +
			"attempts and the error (redacted: never personal data, never the upstream's own message).",
		Args: noArgs,
	}
	f := addFilterFlags(cmd.Flags())
	limit := cmd.Flags().Int("limit", 0, "at most `N` dead letters (0: all)")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		format, err := out.format(e.stdout)
		if err != nil {
			return err
		}
		filter, err := f.filter(time.Now())
		if err != nil {
			return err
		}
		if *limit < 0 {
			return usagef("--limit must not be negative")
		}
		filter.Limit = *limit
		q, closeQ, err := openQueue(cmd.Context(), e.stderr, false)
		if err != nil {
			return err
		}
		defer closeQ()
		dls, err := q.List(cmd.Context(), filter)
		if err != nil {
			return err
		}
		if format == formatJSON {
			return writeJSON(e.stdout, append([]dlq.DeadLetter{}, dls...))
		}
		return printDeadLetters(e, dls)
	}
	return cmd
}

func printDeadLetters(e *env, dls []dlq.DeadLetter) error {
	tw := newTable(e.stdout)
	fmt.Fprintln(tw, "SEQ\tSTORED\tTENANT\tSUBMISSION\tREASON\tATTEMPTS\tERROR")
	for _, d := range dls {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", d.Seq, d.Stored.UTC().Format(time.RFC3339), d.Tenant, d.SubmissionID,
			d.Reason, d.Attempts, d.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.stderr, "%d dead letter(s)\n", len(dls))
	return err
}

func newDLQShowCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show SEQ",
		Short: "Show one dead letter: headers, error and payload",
		Long: "Shows a dead letter's headers, error and payload. The payload is a submission with names, tax codes,\n" +
			"e-mail addresses and files: its values are shown as their type and length unless --reveal is given;\n" +
			"a file's contents are never shown. Only the submission's identity is shown as it is: a version of 1, a string\n" +
			"id and service, options as an array of strings; anything else under those names is masked like any value,\n" +
			"as the console masks it. Keys the producer chose freely (within metadata or a field's value, and a top-level\n" +
			"name that is not a submission's) may name the person: they are masked too, numbered (‹key 1, 11 chars›),\n" +
			"and so is an inline file's media type unless it is a common document type (named without its parameters,\n" +
			"which may carry a file name), unless --reveal is given. Masked, a value nested deeper than 64 objects and\n" +
			"arrays shows as ‹nested deeper than 64 levels›, and a table prints no more of it than 64 KiB and 16 bytes a\n" +
			"byte of the payload, indented: one nested far deeper than a submission is cut there, saying how many bytes\n" +
			"more there are; -o json prints it whole. Revealed, the whole payload is printed. A payload that indented\n" +
			"would be more than that bound is printed compact, on one line (-o json, and a revealed table), whole.\n" +
			"--reveal also shows what the upstream said when it refused the submission (its own message, which may\n" +
			"echo personal data: \"upstream said\", upstream_message in -o json), as the submission's record keeps it\n" +
			"while the letter is its latest failure.",
		Args: exactArgs("SEQ"),
	}
	reveal := cmd.Flags().Bool("reveal", false, "show the payload's values (personal data) and what the upstream said; file contents stay hidden")
	out := addOutputFlag(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		format, err := out.format(e.stdout)
		if err != nil {
			return err
		}
		seqs, err := parseSeqs(args)
		if err != nil {
			return err
		}
		q, c, err := openQueueOn(cmd.Context(), e.stderr, false)
		if err != nil {
			return err
		}
		defer c.close()
		l, err := q.Get(cmd.Context(), seqs[0])
		if errors.Is(err, dlq.ErrNotFound) {
			return fmt.Errorf("no dead letter %d (replayed or purged already, or never stored)", seqs[0])
		}
		if err != nil {
			return err
		}
		upstream := ""
		if *reveal {
			if upstream, err = letterUpstream(cmd.Context(), record.NewStore(c.res.Records), l.DeadLetter); err != nil {
				return err
			}
		}
		payload := dlq.Mask(l.Payload, *reveal)
		if format == formatJSON {
			return writeLetterJSON(e.stdout, letterDoc{l.DeadLetter, l.Header, payload, *reveal, upstream}, len(l.Payload))
		}
		return printLetter(e.stdout, l, payload, *reveal, upstream)
	}
	return cmd
}

// letterUpstream returns the upstream's own message of the failure that
// stored dead letter d (record.Record.UpstreamMessage: personal data, for
// --reveal only), as its submission's record keeps it while it is that
// failure's: failed for d's reason in d's generation. "" when there is none.
func letterUpstream(ctx context.Context, store *record.Store, d dlq.DeadLetter) (string, error) {
	if !record.ValidToken(d.Tenant) || !record.ValidToken(d.SubmissionID) {
		return "", nil
	}
	rec, _, err := store.Get(ctx, d.Tenant, d.SubmissionID)
	if errors.Is(err, record.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("the record of %s/%s: %w", d.Tenant, d.SubmissionID, err)
	}
	if rec.State != record.StateFailed || rec.Reason != d.Reason || rec.Generation != d.Generation {
		return "", nil
	}
	return rec.UpstreamMessage, nil
}

func printLetter(w io.Writer, l *dlq.Letter, payload json.RawMessage, reveal bool, upstream string) error {
	tw := newTable(w)
	d := l.DeadLetter
	fmt.Fprintf(tw, "dead letter\t%d, stored %s\n", d.Seq, d.Stored.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "submission\t%s/%s (generation %d)\n", d.Tenant, d.SubmissionID, d.Generation)
	fmt.Fprintf(tw, "reason\t%s\n", d.Reason)
	fmt.Fprintf(tw, "error\t%s\n", d.Error)
	if upstream != "" {
		fmt.Fprintf(tw, "upstream said\t%s\n", shown(upstream))
	}
	fmt.Fprintf(tw, "attempts\t%d POST(s), %d deliveries\n", d.Attempts, d.Deliveries)
	fmt.Fprintf(tw, "failures\tfirst %s, last %s\n", d.FirstFailure.UTC().Format(time.RFC3339), d.LastFailure.UTC().Format(time.RFC3339))
	fmt.Fprintf(tw, "original\t%s, stream sequence %d\n", d.OriginalSubject, d.StreamSeq)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nheaders:")
	names := make([]string, 0, len(l.Header))
	for k := range l.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(l.Header[k], ", "))
	}
	if reveal {
		fmt.Fprintln(w, "\npayload (revealed; file contents hidden):")
	} else {
		fmt.Fprintln(w, "\npayload (personal data hidden; --reveal to show it):")
	}
	if !reveal {
		shown, size := dlq.Indent(payload, maxMaskedShown(len(l.Payload)))
		if _, err := w.Write(escapeUnprintable([]byte(shown))); err != nil || size == len(shown) {
			return err
		}
		_, err := fmt.Fprintf(w, "…\n(cut: %d bytes more of the masked payload, nested deep; iseed dlq show %d -o json prints it whole)\n",
			size-len(shown), d.Seq)
		return err
	}
	if !indentable(payload, len(l.Payload)) {
		var b bytes.Buffer
		if err := json.Compact(&b, payload); err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err := w.Write(escapeUnprintable(b.Bytes()))
		return err
	}
	var b strings.Builder
	if err := writeJSON(&b, payload); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// letterDoc is the document iseed dlq show -o json prints.
type letterDoc struct {
	DeadLetter dlq.DeadLetter  `json:"dead_letter"`
	Headers    nats.Header     `json:"headers"`
	Payload    json.RawMessage `json:"payload"`
	Revealed   bool            `json:"revealed"`
	// UpstreamMessage is letterUpstream's, with --reveal only.
	UpstreamMessage string `json:"upstream_message,omitempty"`
}

// indentable reports whether payload, the JSON iseed dlq show prints of a
// dead letter's n-byte payload, is printed indented: when that is no more
// than maxMaskedShown(n). One nested far deeper than a submission, which
// only a producer that means harm sends, would be tens of times its size
// (a line of indentation for each few bytes): it is printed compact, on
// one line, whole. dlq.Indent measures it without building it.
func indentable(payload json.RawMessage, n int) bool {
	_, size := dlq.Indent(payload, 0)
	return size <= maxMaskedShown(n)
}

// writeLetterJSON writes doc, the dead letter of an n-byte payload, as
// writeJSON does, unless its payload is not indentable: then the document
// is indented around the payload, which is written compact and whole. The
// same JSON values either way.
func writeLetterJSON(w io.Writer, doc letterDoc, n int) error {
	if indentable(doc.Payload, n) {
		return writeJSON(w, doc)
	}
	return writeEscapedJSON(w, func(w io.Writer) error {
		var b bytes.Buffer
		b.WriteString("{\n")
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("  ", "  ")
		for i, f := range []struct {
			name string
			v    any
		}{{"dead_letter", doc.DeadLetter}, {"headers", doc.Headers}, {"payload", nil}, {"revealed", doc.Revealed}, {"upstream_message", doc.UpstreamMessage}} {
			if f.name == "upstream_message" && doc.UpstreamMessage == "" {
				continue
			}
			if i > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, "  %q: ", f.name)
			if f.name == "payload" {
				if err := json.Compact(&b, doc.Payload); err != nil {
					return err
				}
				continue
			}
			if err := enc.Encode(f.v); err != nil {
				return err
			}
			b.Truncate(b.Len() - 1) // Encode's newline
		}
		b.WriteString("\n}\n")
		_, err := w.Write(b.Bytes())
		return err
	})
}

// maxMaskedShown bounds what iseed dlq show prints of a masked payload of
// n bytes, indented, in a table: 64 KiB and 16 bytes a byte of it. A
// payload is the tenant's to choose, and a value nested some 60 levels
// deep is a line of some 130 bytes of indentation for a few bytes of
// payload: 1 MB of it would be tens of megabytes on the operator's
// terminal. A payload nested a few levels, as a submission is, is printed
// whole (a number, "0,", is some 20 bytes masked, on its line); deeper,
// the rest is counted and not printed, and -o json prints it whole.
func maxMaskedShown(n int) int { return 64<<10 + 16*n }

// letterName names a dead letter for people: "3 (acme/emp-2)".
func letterName(d dlq.DeadLetter) string {
	return fmt.Sprintf("%d (%s/%s)", d.Seq, d.Tenant, d.SubmissionID)
}
