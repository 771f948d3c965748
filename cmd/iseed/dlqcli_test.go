package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// startCLIDaemon runs a daemon in-process on a test server and the
// simulator, for the operator commands to work against.
func startCLIDaemon(t *testing.T) *daemon {
	t.Helper()
	d, _ := startCLIDaemonOn(t)
	return d
}

// startCLIDaemonOn is startCLIDaemon, also returning its NATS server.
func startCLIDaemonOn(t *testing.T) (*daemon, *natstest.Server) {
	t.Helper()
	return startCLIDaemonWith(t, nil)
}

// startCLIDaemonWith is startCLIDaemonOn with the configuration changed by
// mod (nil: none).
func startCLIDaemonWith(t *testing.T, mod func(*Config)) (*daemon, *natstest.Server) {
	t.Helper()
	srv := cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "1h")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDaemon(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; d.close() })
	return d, srv
}

// capsZone separates the days and months of the caps and of the spend in
// the tests that count against a daily cap (inCapsZone): a zone in which
// this test binary started at noon, so that no test's day or month ends
// while it runs. In Europe/Rome a daily cap of one request let a second
// through when a test straddled midnight there (23:00 UTC in winter).
var capsZone = func() *time.Location {
	now := time.Now().UTC()
	sinceMidnight := now.Sub(now.Truncate(24 * time.Hour))
	return time.FixedZone("caps-noon", int((12*time.Hour - sinceMidnight).Seconds()))
}()

// inCapsZone makes a daemon's caps and spend count days in capsZone.
func inCapsZone(c *Config) { c.dayZone = capsZone }

// eventFile writes a valid ISEE submission event, changed by mod, to a file.
func eventFile(t *testing.T, id string, mod func(fields map[string]any)) string {
	t.Helper()
	b, err := iseeEvent(id, "Mario")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(ev["fields"].(map[string]any))
	}
	b, _ = json.Marshal(ev)
	path := filepath.Join(t.TempDir(), id+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// badEmail makes a submission invalid by one field.
func badEmail(f map[string]any) { f["$2"] = "mario at example" }

// deadLetters lists the dead letters through the command, as JSON.
func deadLetters(t *testing.T, args ...string) []dlq.DeadLetter {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"dlq", "list", "-o", "json"}, args...)...)
	var dls []dlq.DeadLetter
	if code != 0 || json.Unmarshal([]byte(out), &dls) != nil {
		t.Fatalf("dlq list %v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
	}
	return dls
}

// waitDeadLetters waits until n dead letters are stored and returns them
// by submission id.
func waitDeadLetters(t *testing.T, n int) map[string]dlq.DeadLetter {
	t.Helper()
	waitUntil(t, 20*time.Second, fmt.Sprintf("%d dead letters", n), func() bool { return len(deadLetters(t)) >= n })
	byID := map[string]dlq.DeadLetter{}
	for _, d := range deadLetters(t) {
		byID[d.SubmissionID] = d
	}
	return byID
}

// waitSubmitted waits until acme's submission id has its upstream request
// (submitted, or further along: the tracker may have moved it on).
func waitSubmitted(t *testing.T, d *daemon, id string) *record.Record {
	t.Helper()
	var rec *record.Record
	waitUntil(t, 20*time.Second, id+" to be submitted", func() bool {
		r, _, err := record.NewStore(d.res.Records).Get(context.Background(), "acme", id)
		rec = r
		return err == nil && r.RequestID != ""
	})
	return rec
}

// TestDLQWorkflow is an operator's session: list with filters, show with
// personal data hidden, refuse what would be rejected again, dry-run,
// replay by filter once the cause is fixed (each submission charged once),
// purge with a confirmation.
func TestDLQWorkflow(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // the upstream refuses every POST: nothing created
	for _, id := range []string{"credit-1", "credit-2"} {
		if out, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, id, nil)); code != 0 {
			t.Fatalf("submit %s: exit %d, %s %s", id, code, out, errOut)
		}
	}
	if _, errOut, code := runCLI(t, "submit", eventFile(t, "bad-1", badEmail), "--tenant", "acme"); code != 0 {
		t.Fatalf("submit bad-1 (flags after the file): exit %d, %s", code, errOut)
	}
	byID := waitDeadLetters(t, 3)
	bad, c1, c2 := byID["bad-1"], byID["credit-1"], byID["credit-2"]
	if bad.Reason != dlq.ReasonInvalid || c1.Reason != dlq.ReasonUpstreamRejected || c2.Tenant != "acme" || c1.Stored.IsZero() {
		t.Fatalf("dead letters: got %+v", byID)
	}
	if c2.Seq < c1.Seq {
		c1, c2 = c2, c1 // in the order they were stored, as replay takes them
	}

	t.Run("list filters", func(t *testing.T) {
		for _, tt := range []struct {
			args []string
			want int
		}{
			{[]string{"--reason", "upstream_rejected"}, 2},
			{[]string{"--tenant", "acme", "--reason", "invalid"}, 1},
			{[]string{"--tenant", "globex"}, 0},
			{[]string{"--reason", "unknown"}, 0}, // the letters stored without a reason, as the console lists them
			{[]string{"--since", c1.Stored.Add(time.Hour).Format(time.RFC3339)}, 0},
			{[]string{"--until", c1.Stored.Add(-time.Hour).Format(time.RFC3339)}, 0},
			{[]string{"--since", "1h"}, 3},
			{[]string{"--limit", "1"}, 1},
		} {
			if got := len(deadLetters(t, tt.args...)); got != tt.want {
				t.Errorf("dlq list %v: got %d, want %d", tt.args, got, tt.want)
			}
		}
		out, _, code := runCLI(t, "dlq", "list", "-o", "table", "--reason", "invalid")
		if code != 0 || !strings.HasPrefix(out, "SEQ") || !strings.Contains(out, "bad-1") || !strings.Contains(out, "invalid submission") {
			t.Errorf("dlq list -o table: exit %d, %q", code, out)
		}
	})

	t.Run("show hides personal data unless revealed", func(t *testing.T) {
		seq := fmt.Sprint(bad.Seq)
		for _, format := range []string{"table", "json"} {
			out, errOut, code := runCLI(t, "dlq", "show", seq, "-o", format)
			if code != 0 || !strings.Contains(out, "‹text, 5 chars›") || !strings.Contains(out, "Iseed-Reason") || !strings.Contains(out, "bad-1") {
				t.Errorf("dlq show -o %s: exit %d, stdout %q, stderr %q", format, code, out, errOut)
			}
			for _, personal := range []string{"Mario", "RSSMRA85T10A562S", "mario at example", "JVBER"} {
				if strings.Contains(out, personal) {
					t.Errorf("dlq show -o %s shows %q without --reveal", format, personal)
				}
			}
		}
		out, _, code := runCLI(t, "dlq", "show", "--reveal", seq)
		if code != 0 || !strings.Contains(out, "RSSMRA85T10A562S") || strings.Contains(out, "JVBER") || !strings.Contains(out, "‹file ci.pdf, application/pdf, 9 bytes›") {
			t.Errorf("dlq show --reveal: exit %d, %q; want values shown, file contents not", code, out)
		}
		if _, errOut, code := runCLI(t, "dlq", "show", "999"); code != 1 || errOut != "iseed dlq show: no dead letter 999 (replayed or purged already, or never stored)\n" {
			t.Errorf("dlq show 999: exit %d, stderr %q", code, errOut)
		}
	})

	t.Run("an invalid dead letter is refused unchanged", func(t *testing.T) {
		out, errOut, code := runCLI(t, "dlq", "replay", fmt.Sprint(bad.Seq))
		want := fmt.Sprintf("refused dead letter %d (acme/bad-1), invalid: its input is invalid and would be rejected again; correct it with 'iseed dlq replay --edit %d'", bad.Seq, bad.Seq)
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, want) {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, want)
		}
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		out, errOut, code := runCLI(t, "dlq", "replay", "--reason", "upstream_rejected", "--dry-run")
		for _, want := range []string{
			fmt.Sprintf("would replay dead letter %d (acme/%s) to iseed.submissions.acme\n", c1.Seq, c1.SubmissionID),
			fmt.Sprintf("would replay dead letter %d (acme/%s) to iseed.submissions.acme\n", c2.Seq, c2.SubmissionID),
			"dry run: of 2 dead letter(s), 2 would be replayed, 0 refused, 0 not found\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout %q lacks %q", out, want)
			}
		}
		if code != 0 || errOut != "" || len(deadLetters(t)) != 3 {
			t.Errorf("exit %d, stderr %q, %d dead letters; want 0, nothing, 3", code, errOut, len(deadLetters(t)))
		}
		out, errOut, code = runCLI(t, "dlq", "replay", "--dry-run", fmt.Sprint(bad.Seq), fmt.Sprint(c1.Seq))
		if code != 1 || !strings.Contains(errOut, "would refuse dead letter") || !strings.Contains(out, "1 would be replayed, 1 refused") {
			t.Errorf("dry run with a refusal: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})

	t.Run("replay by filter once the cause is fixed", func(t *testing.T) {
		d.sim.sim.SetFaults(sim.Faults{})
		out, errOut, code := runCLI(t, "dlq", "replay", "--reason", "upstream_rejected", "--tenant", "acme", "--rate", "50/s")
		want := fmt.Sprintf("replayed dead letter %d (acme/%s) to iseed.submissions.acme\nreplayed dead letter %d (acme/%s) to iseed.submissions.acme\nof 2 dead letter(s): 2 replayed, 0 refused, 0 failed\n",
			c1.Seq, c1.SubmissionID, c2.Seq, c2.SubmissionID)
		if code != 0 || out != want || errOut != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and %q", code, out, errOut, want)
		}
		for _, id := range []string{"credit-1", "credit-2"} {
			if r := waitSubmitted(t, d, id); r.Generation != 2 {
				t.Errorf("%s after replay: %+v", id, r)
			}
		}
		if got := d.sim.sim.Counters()["created"]; got != 2 {
			t.Errorf("upstream requests: got %d, want 2 (one per submission)", got)
		}
		if _, errOut, code := runCLI(t, "dlq", "replay", fmt.Sprint(c1.Seq)); code != 1 ||
			errOut != fmt.Sprintf("no dead letter %d (replayed or purged already, or never stored)\n", c1.Seq) {
			t.Errorf("replaying it again: exit %d, stderr %q; want 1 and one line", code, errOut)
		}
	})

	t.Run("purge asks first", func(t *testing.T) {
		seq := fmt.Sprint(bad.Seq)
		if _, errOut, code := runCLIInput(t, "n\n", "dlq", "purge", seq); code != 1 || !strings.Contains(errOut, "not confirmed") {
			t.Errorf("purge answered n: exit %d, stderr %q", code, errOut)
		}
		// No answer at all (standard input not a terminal, or empty): the
		// refusal is a line of its own and says how to skip the question.
		if _, errOut, code := runCLIInput(t, "", "dlq", "purge", seq); code != 1 ||
			errOut != "purge 1 dead letter(s) for good? [y/N] \nnot confirmed: nothing purged (answer y, or pass --yes to purge without asking)\n" {
			t.Errorf("purge with no answer: exit %d, stderr %q; want 1, the prompt, and the refusal on a line of its own naming --yes", code, errOut)
		}
		if len(deadLetters(t)) != 1 {
			t.Fatalf("purge not confirmed removed something")
		}
		out, _, code := runCLIInput(t, "y\n", "dlq", "purge", "--reason", "invalid")
		if code != 0 || out != fmt.Sprintf("purged dead letter %d (acme/bad-1), reason invalid\n", bad.Seq) || len(deadLetters(t)) != 0 {
			t.Errorf("purge confirmed: exit %d, stdout %q", code, out)
		}
		if out, _, code := runCLI(t, "dlq", "purge", "--all", "--yes"); code != 0 || out != "no dead letters match: nothing purged\n" {
			t.Errorf("purge --all of nothing: exit %d, %q", code, out)
		}
	})
}

func runCLIInput(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr strings.Builder
	err := run(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), stderr.String(), exitCode(err)
}

// TestDLQUnknownReason: a --reason iseed does not know would match nothing;
// list, replay and purge refuse it as a usage mistake naming the reasons
// they know, and take every known one.
func TestDLQUnknownReason(t *testing.T) {
	startCLIDaemon(t)
	for _, args := range [][]string{
		{"dlq", "list", "--reason", "nonsense"},
		{"dlq", "list", "--reason", "Invalid"},
		{"dlq", "replay", "--reason", "nonsense"},
		{"dlq", "replay", "--reason", "nonsense", "--dry-run"},
		{"dlq", "purge", "--reason", "nonsense", "--yes"},
	} {
		out, errOut, code := runCLI(t, args...)
		if code != 2 || out != "" || !strings.Contains(errOut, `--reason "`+args[3]+`" is not a dead-letter reason`) ||
			!strings.Contains(errOut, dlq.ReasonUpstreamRejected) || !strings.Contains(errOut, dlq.ReasonPriorISEE) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and the reasons iseed knows", args, code, out, errOut)
		}
	}
	for _, reason := range []string{dlq.ReasonMalformed, dlq.ReasonInvalid, dlq.ReasonConflict, dlq.ReasonUpstreamRejected,
		dlq.ReasonInsufficientCredit, dlq.ReasonAmbiguous, dlq.ReasonExpired, dlq.ReasonMaxDeliveries, dlq.ReasonPriorISEE, dlq.ReasonGaveUp} {
		if out, errOut, code := runCLI(t, "dlq", "list", "--reason", reason, "-o", "json"); code != 0 || out != "[]\n" {
			t.Errorf("dlq list --reason %s: exit %d, stdout %q, stderr %q; want 0 and no dead letters", reason, code, out, errOut)
		}
	}
}

// TestDLQReplayRefusesAForeignLetter: a message someone else put on a DLQ
// subject, without iseed's headers, is refused by a dry run as by the
// replay itself (the dry run used to promise it).
func TestDLQReplayRefusesAForeignLetter(t *testing.T) {
	startCLIDaemon(t)
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	ack, err := js.Publish(context.Background(), "iseed.dlq.acme.emp-x", []byte(`{"id":"emp-x","service":"ISEE","fields":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	seq := fmt.Sprint(ack.Sequence)
	for _, args := range [][]string{{"dlq", "replay", "--dry-run", seq}, {"dlq", "replay", seq}, {"dlq", "replay", "--payload", "-", seq}} {
		out, errOut, code := runCLIInput(t, `{"id":"emp-x","service":"ISEE","fields":{"$0":"x"}}`, args...)
		if code != 1 || !strings.Contains(errOut, "none of the headers iseed writes") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and a refusal: iseed did not store it", args, code, out, errOut)
		}
	}
}

// TestDLQFilterDates: a date given to --until includes its whole day, so
// that --since D --until D finds D's dead letters (it found none: the
// date was that day's first instant).
func TestDLQFilterDates(t *testing.T) {
	now := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	stored := time.Date(2026, 12, 1, 15, 21, 47, 0, time.UTC)
	for _, tc := range []struct {
		since, until string
		match        bool
	}{
		{"2026-12-01", "2026-12-01", true},
		{"", "2026-12-01", true},
		{"", "2026-11-30", false},
		{"2026-12-02", "", false},
		{"", "2026-12-01T15:00:00Z", false},
		{"2h", "", false},
		{"3h", "2026-12-01T15:21:47Z", true},
	} {
		f, err := (&filterFlags{since: tc.since, until: tc.until}).filter(now)
		if err != nil {
			t.Fatalf("--since %q --until %q: %v", tc.since, tc.until, err)
		}
		if in := f.Match(dlq.DeadLetter{Stored: stored}); in != tc.match {
			t.Errorf("--since %q --until %q (%v – %v): a letter stored %v matches %v, want %v", tc.since, tc.until, f.Since, f.Until, stored, in, tc.match)
		}
	}
}

// TestParseSeqsNamesEachLetterOnce: a sequence named twice (a pasted list)
// is replayed or purged once; the second time, found gone, was counted a
// failure, and the command exited 1 for a letter it had handled.
func TestParseSeqsNamesEachLetterOnce(t *testing.T) {
	got, err := parseSeqs([]string{"5", "3", "5", "3", "7"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{5, 3, 7}; !slices.Equal(got, want) {
		t.Fatalf("parseSeqs: %v; want %v", got, want)
	}
}
