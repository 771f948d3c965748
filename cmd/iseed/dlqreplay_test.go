package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// cancelWriter cancels a context when a line containing mark is written.
type cancelWriter struct {
	mu     sync.Mutex
	b      strings.Builder
	mark   string
	cancel context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if strings.Contains(string(p), w.mark) {
		w.cancel()
	}
	return w.b.Write(p)
}

// TestDLQReplayInterruptedAndRunAgain interrupts a replay after its first
// dead letter: that one is gone, the rest are still there, and the same
// command replays them; each submission is charged once.
func TestDLQReplayInterruptedAndRunAgain(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // the upstream refuses every POST: nothing created
	for i := range 3 {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, fmt.Sprintf("int-%d", i), nil)); code != 0 {
			t.Fatalf("submit: exit %d, %s", code, errOut)
		}
	}
	waitDeadLetters(t, 3)
	d.sim.sim.SetFaults(sim.Faults{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := &cancelWriter{mark: "replayed dead letter", cancel: cancel}
	var stderr strings.Builder
	err := run(ctx, []string{"dlq", "replay", "--reason", "upstream_rejected"}, strings.NewReader(""), stdout, &stderr)
	if exitCode(err) != 1 || strings.Count(stdout.b.String(), "replayed dead letter") != 1 ||
		!strings.Contains(stderr.String(), "interrupted: 2 dead letter(s) not looked at") ||
		!strings.Contains(stdout.b.String(), "of 3 dead letter(s): 1 replayed, 0 refused, 0 failed") {
		t.Fatalf("interrupted replay: exit %d, stdout %q, stderr %q", exitCode(err), stdout.b.String(), stderr.String())
	}
	if left := deadLetters(t); len(left) != 2 {
		t.Fatalf("after the interruption: %d dead letters, want 2", len(left))
	}
	out, errOut, code := runCLI(t, "dlq", "replay", "--reason", "upstream_rejected")
	if code != 0 || !strings.Contains(out, "of 2 dead letter(s): 2 replayed, 0 refused, 0 failed") {
		t.Fatalf("the same command again: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for i := range 3 {
		waitSubmitted(t, d, fmt.Sprintf("int-%d", i))
	}
	if got := d.sim.sim.Counters()["created"]; got != 3 {
		t.Errorf("upstream requests: got %d, want 3", got)
	}
}

// editor writes an $EDITOR script that runs sed on the file it is given.
func editor(t *testing.T, sed string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "editor")
	if err := os.WriteFile(path, []byte("#!/bin/sh\nexec sed -i '"+sed+"' \"$1\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDLQReplayCorrected replays invalid dead letters corrected in an
// editor or from standard input: the corrected submissions are sent, once.
func TestDLQReplayCorrected(t *testing.T) {
	d := startCLIDaemon(t)
	for _, id := range []string{"fix-1", "fix-2"} {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, id, badEmail)); code != 0 {
			t.Fatalf("submit: exit %d, %s", code, errOut)
		}
	}
	byID := waitDeadLetters(t, 2)
	fix1, fix2 := fmt.Sprint(byID["fix-1"].Seq), fmt.Sprint(byID["fix-2"].Seq)

	t.Setenv("EDITOR", editor(t, "s/nothing to change/x/"))
	t.Setenv("VISUAL", "")
	if out, errOut, code := runCLI(t, "dlq", "replay", "--edit", fix1); code != 1 || out != "" || !strings.Contains(errOut, "is unchanged: nothing replayed") {
		t.Errorf("an edit that changes nothing: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	t.Setenv("EDITOR", editor(t, "s/mario at example/mario.rossi@example.it/"))
	out, errOut, code := runCLI(t, "dlq", "replay", fix1, "--edit")
	if want := "replayed dead letter " + fix1 + " (acme/fix-1), corrected, to iseed.submissions.acme\n"; code != 0 || out != want {
		t.Fatalf("replay --edit: exit %d, stdout %q, stderr %q; want %q", code, out, errOut, want)
	}
	corrected, err := os.ReadFile(eventFile(t, "fix-2", nil))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLIInput(t, string(corrected), "dlq", "replay", "--payload", "-", fix2)
	if code != 0 || !strings.Contains(out, "replayed dead letter "+fix2+" (acme/fix-2), corrected") {
		t.Fatalf("replay --payload -: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, id := range []string{"fix-1", "fix-2"} {
		if r := waitSubmitted(t, d, id); r.Generation != 2 {
			t.Errorf("%s: got %+v", id, r)
		}
	}
	if got := d.sim.sim.Counters()["created"]; got != 2 {
		t.Errorf("upstream requests: got %d, want 2", got)
	}
	if left := deadLetters(t); len(left) != 0 {
		t.Errorf("dead letters left: %v", left)
	}
}

// TestDLQCorrectionKeepsTheID refuses a correction that names another
// submission than its dead letter's, which would start or reopen that
// submission; a conflict's correction may take a new id, one no
// submission has.
func TestDLQCorrectionKeepsTheID(t *testing.T) {
	d := startCLIDaemon(t)
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", eventFile(t, "kept-1", nil)); code != 0 {
		t.Fatalf("submit kept-1: exit %d, %s", code, errOut)
	}
	for _, f := range []string{eventFile(t, "bad-1", badEmail), eventFile(t, "kept-1", badEmail)} { // invalid; conflict
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", f); code != 0 {
			t.Fatalf("submit: exit %d, %s", code, errOut)
		}
	}
	byID := waitDeadLetters(t, 2)
	invalid, conflict := fmt.Sprint(byID["bad-1"].Seq), fmt.Sprint(byID["kept-1"].Seq)
	// Under its own id, a third payload meets a submission that has its
	// request: it would conflict again, so it is refused.
	third, err := os.ReadFile(eventFile(t, "kept-1", func(f map[string]any) { f["$1"] = "Verdi" }))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLIInput(t, string(third), "dlq", "replay", "--payload", "-", conflict)
	if code != 1 || out != "" || !strings.Contains(errOut, "would conflict again") {
		t.Errorf("a conflict corrected under its own id, which has its request: exit %d, stdout %q, stderr %q; want 1 and a refusal", code, out, errOut)
	}
	tests := []struct {
		name, seq, id string
		code          int
		want          string // in stdout (exit 0) or stderr
	}{
		{"an invalid letter corrected under an existing submission's id", invalid, "kept-1", 1, "a correction keeps the id"},
		{"an invalid letter corrected under a new id", invalid, "new-1", 1, "a correction keeps the id"},
		{"a conflict corrected under an existing submission's id", conflict, "bad-1", 1, `names submission "bad-1", which exists already`},
		{"a conflict corrected under a new id", conflict, "new-2", 0, "corrected as submission new-2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, err := os.ReadFile(eventFile(t, tt.id, nil))
			if err != nil {
				t.Fatal(err)
			}
			out, errOut, code := runCLIInput(t, string(payload), "dlq", "replay", "--payload", "-", tt.seq)
			if got := map[bool]string{true: out, false: errOut}[code == 0]; code != tt.code || !strings.Contains(got, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %d and %q", code, out, errOut, tt.code, tt.want)
			}
		})
	}
	waitSubmitted(t, d, "new-2")
	if got := d.sim.sim.Counters()["created"]; got != 2 { // kept-1, new-2
		t.Errorf("upstream requests: got %d, want 2", got)
	}
	if left := deadLetters(t); len(left) != 1 || fmt.Sprint(left[0].Seq) != invalid {
		t.Errorf("dead letters left: %v; want only %s, the invalid one", left, invalid)
	}
}

// TestDLQCorrectionRefusesAPostInDoubt: a submission whose POST went
// unanswered and that ran out of deliveries before it could be reconciled
// is dead-lettered as max_deliveries with that POST still in doubt (the
// upstream may have created, and charged, its request). Only its own
// payload can be reconciled with the upstream, so a correction is refused
// as for an ambiguous letter, and the letter is kept. The correction used
// to be replayed, reported as done, and its dead letter removed; the
// pipeline then refused it as a conflict, and the only payload that could
// reconcile the submission was gone from the queue.
func TestDLQCorrectionRefusesAPostInDoubt(t *testing.T) {
	t.Setenv("ISEED_MAX_DELIVER", "2")
	t.Setenv("ISEED_MAX_AGE", "800ms")
	t.Setenv("ISEED_RETRY_MAX_DELAY", "1s")
	t.Setenv("ISEED_ACK_WAIT", "2s")
	t.Setenv("ISEED_RECONCILE_SETTLE", "1h")
	d := startCLIDaemon(t)
	// The POST creates (and charges) the request, its answer is lost, and
	// the request stays unseen for an hour: reconciling cannot settle.
	d.sim.sim.SetFaults(sim.Faults{LateCommit: sim.LateCommit{Mode: sim.ModeBadGateway, Delay: time.Hour, Next: 1}})
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "doubt-1", nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)["doubt-1"]
	if dl.Reason != dlq.ReasonMaxDeliveries {
		t.Fatalf("dead letter: got %+v, want reason max_deliveries", dl)
	}
	seq := fmt.Sprint(dl.Seq)
	corrected, err := os.ReadFile(eventFile(t, "doubt-1", func(f map[string]any) { f["$2"] = "m.rossi@example.org" }))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLIInput(t, string(corrected), "dlq", "replay", "--payload", "-", seq)
	if code != 1 || out != "" || !strings.Contains(errOut, "an earlier attempt may have created its upstream request") {
		t.Errorf("correction of a POST in doubt: exit %d, stdout %q, stderr %q; want 1 and a refusal", code, out, errOut)
	}
	if left := deadLetters(t); len(left) != 1 || left[0].Seq != dl.Seq {
		t.Errorf("dead letters after the refused correction: %+v; want %s kept, alone", left, seq)
	}
	// A conflict's correction under that id would conflict again, for the
	// same reason: it is refused too, and the conflict's letter kept.
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "doubt-1", func(f map[string]any) { f["$1"] = "Bianchi" })); code != 0 {
		t.Fatalf("submit the conflicting payload: exit %d, %s", code, errOut)
	}
	conflict := waitDeadLetters(t, 2)["doubt-1"]
	if conflict.Reason != dlq.ReasonConflict {
		t.Fatalf("dead letter: got %+v, want reason conflict", conflict)
	}
	third, err := os.ReadFile(eventFile(t, "doubt-1", func(f map[string]any) { f["$1"] = "Verdi" }))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLIInput(t, string(third), "dlq", "replay", "--payload", "-", fmt.Sprint(conflict.Seq))
	if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+fmt.Sprint(conflict.Seq)) {
		t.Errorf("a conflict's correction under the id in doubt: exit %d, stdout %q, stderr %q; want 1 and a refusal", code, out, errOut)
	}
	if left := deadLetters(t); len(left) != 2 {
		t.Errorf("dead letters after the refused corrections: %+v; want both kept", left)
	}
	if got := d.sim.sim.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestDLQCorrectionRefusesATrackingLetter: a gave_up dead letter holds
// the tracking task of a submission that has its upstream request, and
// its replay goes back to the tracking stream. A correction (a submission
// given with --payload) is refused and the letter kept: it used to be
// published on the tracking subject, where the tracker terminates it as a
// malformed task, while the command said it was replayed and removed the
// letter, so tracking could never be reopened.
func TestDLQCorrectionRefusesATrackingLetter(t *testing.T) {
	t.Setenv("ISEED_TRACK_CLOCK", "100000,2026-01-12T08:00:00+01:00,"+time.Now().UTC().Format(time.RFC3339Nano))
	t.Setenv("ISEED_OVERDUE_WORKDAYS", "1")
	t.Setenv("ISEED_TRACK_MAX_AGE", "48h")
	d := startCLIDaemon(t)
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "track-1", nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)["track-1"]
	if dl.Reason != dlq.ReasonGaveUp {
		t.Fatalf("dead letter: got %+v, want reason gave_up", dl)
	}
	seq := fmt.Sprint(dl.Seq)
	submission, err := os.ReadFile(eventFile(t, "track-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLIInput(t, string(submission), "dlq", "replay", "--payload", "-", seq)
	if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+seq) {
		t.Errorf("correction of a tracking letter: exit %d, stdout %q, stderr %q; want 1 and a refusal", code, out, errOut)
	}
	if left := deadLetters(t); len(left) != 1 || left[0].Seq != dl.Seq {
		t.Errorf("dead letters after the refused correction: %+v; want %s kept", left, seq)
	}
	if got := d.sim.sim.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestDLQReplayRefusesAKeyTheDaemonDoesNotUse: an operator whose command
// signs with another key than the daemon's (ISEED_REPLAY_KEY_FILE set for
// one and not the other, or a stale key left in the keys bucket) is told
// so, and nothing is replayed. Such a replay used to be published and its
// dead letter removed, while the pipeline took it for an ordinary message
// of a failed submission, whose new dead letter the DLQ stream dropped as
// a duplicate of the one just removed: the letter was gone, nothing was
// reopened, and the command said "replayed".
func TestDLQReplayRefusesAKeyTheDaemonDoesNotUse(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "key-1", nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)["key-1"]
	d.sim.sim.SetFaults(sim.Faults{})
	other := filepath.Join(t.TempDir(), "replay.key")
	if err := os.WriteFile(other, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ISEED_REPLAY_KEY_FILE", other) // the command's; the daemon keeps the bucket's
	out, errOut, code := runCLI(t, "dlq", "replay", fmt.Sprint(dl.Seq))
	if code != 2 || out != "" || !strings.Contains(errOut, "not the key iseed serve signs replays with") {
		t.Errorf("replay with another key: exit %d, stdout %q, stderr %q; want 2 and the key named", code, out, errOut)
	}
	waitUntil(t, 20*time.Second, "the pipeline to take every message", func() bool {
		info, err := d.res.Consumer.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
	if left := deadLetters(t); len(left) != 1 || left[0].Seq != dl.Seq {
		t.Errorf("dead letters: %+v; want %d kept", left, dl.Seq)
	}
	if got := d.sim.sim.Counters()["created"]; got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
}

// TestDLQCorrectionOfMetadataOnly: metadata is not part of a submission
// (the same service, fields, options and email_target are the same
// submission), so a correction that changes only the metadata is the
// same submission replayed, and the record keeps its metadata. The command
// says so and replays nothing; it used to say "corrected" while the
// events went on carrying the old metadata.
func TestDLQCorrectionOfMetadataOnly(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	b, err := os.ReadFile(eventFile(t, "meta-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	ev["metadata"] = map[string]any{"employee": "E-1"}
	b, _ = json.Marshal(ev)
	if _, errOut, code := runCLIInput(t, string(b), "submit", "--tenant", "acme", "-"); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)["meta-1"]
	d.sim.sim.SetFaults(sim.Faults{})
	ev["metadata"] = map[string]any{"employee": "E-2"}
	b, _ = json.Marshal(ev)
	out, errOut, code := runCLIInput(t, string(b), "dlq", "replay", "--payload", "-", fmt.Sprint(dl.Seq))
	if code != 1 || out != "" || !strings.Contains(errOut, "changes only what is not part of the submission") {
		t.Errorf("a metadata-only correction: exit %d, stdout %q, stderr %q; want 1 and why", code, out, errOut)
	}
	if left := deadLetters(t); len(left) != 1 || left[0].Seq != dl.Seq {
		t.Errorf("dead letters: %+v; want %d kept", left, dl.Seq)
	}
}

// TestDLQReplayOfAMessageWithAWrongID: a submission published with
// another Nats-Msg-Id than the pipeline requires is dead-lettered as
// malformed, though its payload is a good submission; a replay carries
// the right id, so it goes through unchanged, and is sent once. It used
// to be refused as "not a readable submission", and a correction as
// unchanged: there was no way to replay it.
func TestDLQReplayOfAMessageWithAWrongID(t *testing.T) {
	d := startCLIDaemon(t)
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	data, err := os.ReadFile(eventFile(t, "wrong-id-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("iseed.submissions.acme")
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, "my-own-id-1")
	if _, err := js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	dl := waitDeadLetters(t, 1)["wrong-id-1"]
	if dl.Reason != dlq.ReasonMalformed {
		t.Fatalf("dead letter: got %+v, want reason malformed", dl)
	}
	out, errOut, code := runCLI(t, "dlq", "replay", fmt.Sprint(dl.Seq))
	if want := fmt.Sprintf("replayed dead letter %d (acme/wrong-id-1) to iseed.submissions.acme\n", dl.Seq); code != 0 || out != want {
		t.Fatalf("replay: exit %d, stdout %q, stderr %q; want 0 and %q", code, out, errOut, want)
	}
	waitSubmitted(t, d, "wrong-id-1")
	if got := d.sim.sim.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestDLQReplayRefusesAWrongIDLetterOfASubmissionOnItsWay: a letter
// malformed only by its Nats-Msg-Id whose payload is its submission's
// recorded one (same fingerprint) is that submission's letter, and its
// replay is judged by the record as any other's (dlq.CheckReopen). It
// used to pass whatever the record said: replayed while the submission
// was on its way under another delivery's lease, it waited behind that
// lease and, were the submission failed again, reopened it for an attempt
// nobody asked for; replayed once it had its upstream request, it reopened
// nothing and the letter was gone. Both are now refused, saying why, and
// the letter is kept.
func TestDLQReplayRefusesAWrongIDLetterOfASubmissionOnItsWay(t *testing.T) {
	d := startCLIDaemon(t)
	ctx := context.Background()
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	store := record.NewStore(d.res.Records)
	now := time.Now()
	tests := []struct {
		id  string
		rec func(r *record.Record)
		why string
	}{
		{"wrong-id-claimed", func(r *record.Record) {
			r.To(record.StateClaimed, now, "replay of dead letter 999")
			r.Pending = &record.Attempt{Started: now, Owner: "another-delivery/1", Until: now.Add(time.Hour)}
		}, "the submission is claimed"},
		{"wrong-id-sent", func(r *record.Record) {
			r.To(record.StateSubmitted, now, "")
			r.RequestID = "6b0ee1771dcdaf00000000f1"
		}, "with its upstream request 6b0ee1771dcdaf00000000f1"},
	}
	payloads := map[string][]byte{}
	for _, tt := range tests {
		data, err := os.ReadFile(eventFile(t, tt.id, nil))
		if err != nil {
			t.Fatal(err)
		}
		payloads[tt.id] = data
		m := nats.NewMsg("iseed.submissions.acme")
		m.Data = data
		m.Header.Set(jetstream.MsgIDHeader, "my-own-id-"+tt.id)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	byID := waitDeadLetters(t, len(tests))
	for _, tt := range tests {
		dl := byID[tt.id]
		if dl.Reason != dlq.ReasonMalformed {
			t.Fatalf("dead letter of %s: got %+v, want reason malformed", tt.id, dl)
		}
		// Its producer sent it again with the right id meanwhile: the
		// submission is recorded with this very payload.
		sub, err := consumer.DecodeSubmission(payloads[tt.id])
		if err != nil {
			t.Fatal(err)
		}
		rec := &record.Record{Tenant: "acme", ID: tt.id, Fingerprint: sub.Fingerprint(), Generation: 1, Created: now, Attempts: 1}
		tt.rec(rec)
		if _, err := store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
		seq := fmt.Sprint(dl.Seq)
		out, errOut, code := runCLI(t, "dlq", "replay", seq)
		if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+seq) || !strings.Contains(errOut, tt.why) {
			t.Errorf("replay of %s's wrong-id letter: exit %d, stdout %q, stderr %q; want 1 and refused: %q", tt.id, code, out, errOut, tt.why)
		}
		if _, err := dlq.NewQueue(d.js, d.res, nil, nil).Get(ctx, dl.Seq); err != nil {
			t.Errorf("dead letter %s after the refusal: %v; want it kept", seq, err)
		}
	}
	if got := d.sim.sim.Counters()["created"]; got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
}

// TestDLQReplayRefusesAMalformedLetterThatWouldCorrect: a letter
// malformed only by its Nats-Msg-Id whose payload is another submission
// than its submission's recorded one (rejected, no request: it takes a
// correction) is not replayed unchanged: a plain replay means "the same
// again", and the pipeline would take the other payload for a correction
// and send it in place of the recorded one. It used to be replayed, and
// sent. It is refused, saying why and naming --edit and --payload, the
// explicit way; the letter is kept, the record unchanged, nothing sent.
func TestDLQReplayRefusesAMalformedLetterThatWouldCorrect(t *testing.T) {
	d := startCLIDaemon(t)
	ctx := context.Background()
	store := record.NewStore(d.res.Records)
	before, _, _, n := rejectedThenMalformed(t, d, "other-payload")
	seq := fmt.Sprint(n)
	out, errOut, code := runCLI(t, "dlq", "replay", seq)
	if code == 0 {
		rec := waitSubmitted(t, d, "other-payload")
		t.Fatalf("plain replay: exit 0, stdout %q; the record went from fingerprint %s to %s and was sent as %s (%d upstream request(s))",
			out, before.Fingerprint, rec.Fingerprint, rec.RequestID, d.sim.sim.Counters()["created"])
	}
	if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+seq) || !strings.Contains(errOut, "in place of the recorded one") ||
		!strings.Contains(errOut, "iseed dlq replay --edit "+seq) || !strings.Contains(errOut, "--payload FILE") {
		t.Errorf("plain replay: exit %d, stdout %q, stderr %q; want 1, refused, why, and --edit and --payload named", code, out, errOut)
	}
	if _, err := dlq.NewQueue(d.js, d.res, nil, nil).Get(ctx, n); err != nil {
		t.Errorf("dead letter %s after the refusal: %v; want it kept", seq, err)
	}
	after, _, err := store.Get(ctx, "acme", "other-payload")
	if err != nil || after.Fingerprint != before.Fingerprint || after.State != record.StateRejected || after.Generation != before.Generation {
		t.Errorf("record after the refusal: %+v, %v; want it as it was (%+v)", after, err, before)
	}
	if got := d.sim.sim.Counters()["created"]; got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
	// The explicit way goes as it did: a correction, sent once.
	out, errOut, code = runCLI(t, "dlq", "replay", "--payload", eventFile(t, "other-payload", func(f map[string]any) { f["$0"] = "Luigi" }), seq)
	if code != 0 || !strings.Contains(out, "replayed dead letter "+seq+" (acme/other-payload), corrected,") {
		t.Fatalf("correction: exit %d, stdout %q, stderr %q; want it replayed", code, out, errOut)
	}
	if rec := waitSubmitted(t, d, "other-payload"); rec.Fingerprint == before.Fingerprint {
		t.Errorf("record after the correction: fingerprint %s, want the correction's", rec.Fingerprint)
	}
	if got := d.sim.sim.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests after the correction: got %d, want 1", got)
	}
}

// TestDLQCorrectionWithTheLettersOwnPayload: a letter whose payload is
// another submission than its submission's recorded one (rejected, no
// request: it takes a correction) is refused a plain replay, which names
// the explicit way, a correction, "which opens this payload". Asked for
// explicitly with that very payload (saved unchanged in the editor, or
// given with --payload), the correction used to be refused as unchanged:
// compared with the letter's payload, not with the recorded one it
// replaces, so the letter's submission could not be sent at all. It is
// replayed, corrected, and sent once in place of the recorded one.
func TestDLQCorrectionWithTheLettersOwnPayload(t *testing.T) {
	d := startCLIDaemon(t)
	before, file, data, n := rejectedThenMalformed(t, d, "own-payload")
	seq := fmt.Sprint(n)
	if _, errOut, code := runCLI(t, "dlq", "replay", seq); code != 1 || !strings.Contains(errOut, "iseed dlq replay --edit "+seq) {
		t.Fatalf("plain replay: exit %d, stderr %q; want 1, refused, naming --edit", code, errOut)
	}
	out, errOut, code := runCLI(t, "dlq", "replay", "--payload", file, seq)
	if code != 0 || !strings.Contains(out, "replayed dead letter "+seq+" (acme/own-payload), corrected,") {
		t.Fatalf("correction with the letter's own payload: exit %d, stdout %q, stderr %q; want it replayed", code, out, errOut)
	}
	if rec := waitSubmitted(t, d, "own-payload"); rec.Fingerprint != consumer.LetterFingerprint(data) || rec.Generation != before.Generation+1 {
		t.Errorf("record after the correction: fingerprint %s, generation %d; want %s, %d",
			rec.Fingerprint, rec.Generation, consumer.LetterFingerprint(data), before.Generation+1)
	}
	if got := d.sim.sim.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestDLQReplayPublishedButNotRemoved: a replay that was published but
// whose dead letter could not be removed is said to be replayed, and what
// is left to do; it used to be reported as "not replayed", which it was.
func TestDLQReplayPublishedButNotRemoved(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "kept-in-queue", nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)["kept-in-queue"]
	d.sim.sim.SetFaults(sim.Faults{})
	denyDeletes(t, d)
	seq := fmt.Sprint(dl.Seq)
	out, errOut, code := runCLI(t, "dlq", "replay", seq)
	if code != 1 || strings.Contains(errOut, "not replayed") || !strings.Contains(errOut, "replayed dead letter "+seq+" (acme/kept-in-queue)") ||
		!strings.Contains(errOut, "iseed dlq purge "+seq) {
		t.Errorf("replay not removed: exit %d, stdout %q, stderr %q; want 1, said replayed, and the purge to do", code, out, errOut)
	}
	waitSubmitted(t, d, "kept-in-queue")
}

// TestDLQCorrectionPublishedButNotRemoved: a correction (--edit, --payload)
// published whose dead letter could not be removed is said to be replayed,
// with the purge to do, as a plain replay's is. It used to end with the
// bare error ("replayed, but the dead letter could not be removed"), which
// named no purge: the operator was left with a letter that reopens
// nothing.
func TestDLQCorrectionPublishedButNotRemoved(t *testing.T) {
	d := startCLIDaemon(t)
	for _, id := range []string{"kept-edit", "kept-payload"} {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, id, badEmail)); code != 0 {
			t.Fatalf("submit: exit %d, %s", code, errOut)
		}
	}
	byID := waitDeadLetters(t, 2)
	denyDeletes(t, d)
	corrected, err := os.ReadFile(eventFile(t, "kept-payload", nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDITOR", editor(t, "s/mario at example/mario.rossi@example.it/"))
	t.Setenv("VISUAL", "")
	for _, tt := range []struct {
		id, input string
		flags     []string
	}{
		{"kept-edit", "", []string{"--edit"}},
		{"kept-payload", string(corrected), []string{"--payload", "-"}},
	} {
		seq := fmt.Sprint(byID[tt.id].Seq)
		out, errOut, code := runCLIInput(t, tt.input, append(append([]string{"dlq", "replay"}, tt.flags...), seq)...)
		want := "replayed dead letter " + seq + " (acme/" + tt.id + "), corrected, to iseed.submissions.acme, but it is still in the queue"
		if code != 1 || out != "" || !strings.Contains(errOut, want) || !strings.Contains(errOut, "remove it with 'iseed dlq purge "+seq+"'") {
			t.Errorf("%s not removed: exit %d, stdout %q, stderr %q; want 1, %q, and the purge to do", tt.flags[0], code, out, errOut, want)
		}
		if r := waitSubmitted(t, d, tt.id); r.Generation != 2 {
			t.Errorf("%s: got %+v, want the correction sent", tt.id, r)
		}
	}
	if left := deadLetters(t); len(left) != 2 {
		t.Errorf("dead letters: %+v, want both kept (their removal was refused)", left)
	}
}

// denyDeletes makes d's DLQ stream refuse every removal from now on, as
// a stream whose deletes fail would: a replay publishes, and cannot
// remove its letter (dlq.ErrNotRemoved).
func denyDeletes(t *testing.T, d *daemon) {
	t.Helper()
	ctx := context.Background()
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	st, err := js.Stream(ctx, d.res.Layout.DLQStream())
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.DenyDelete = true
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestDLQPurgeOfAReplayedLetterNotRemoved: a replay published whose
// letter could not be removed tells the operator to purge the letter;
// the purge removes it, saying it was replayed (exit 1: not purged, its
// submission reopened). It used to keep the letter, saying "that replay
// removes the letter" of a replay that had ended, at every purge.
func TestDLQPurgeOfAReplayedLetterNotRemoved(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "purged-after", nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)["purged-after"]
	d.sim.sim.SetFaults(sim.Faults{})
	// The replay command's, its removal of the letter failing once.
	ctx := context.Background()
	c, err := openCLI(ctx, io.Discard, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	key, err := c.replayKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := *c.res
	res.DLQ = &failingDelete{Stream: c.res.DLQ}
	q := dlq.NewQueue(c.js, &res, key, consumer.ReplayMsgID(res.Layout))
	if err := q.Replay(ctx, dl.Seq); !errors.Is(err, dlq.ErrNotRemoved) {
		t.Fatalf("replay: got %v, want %v", err, dlq.ErrNotRemoved)
	}
	seq := fmt.Sprint(dl.Seq)
	out, errOut, code := runCLI(t, "dlq", "purge", "--yes", seq)
	if code != 1 || strings.Contains(out, "purged dead letter") || !strings.Contains(errOut, "dead letter "+seq+" not purged: it was replayed") ||
		!strings.Contains(errOut, "gone from the queue") {
		t.Errorf("the purge the replay advises: exit %d, stdout %q, stderr %q; want 1, the letter replayed and gone", code, out, errOut)
	}
	if left := deadLetters(t); len(left) != 0 {
		t.Errorf("dead letters after the purge: %+v, want none", left)
	}
	waitSubmitted(t, d, "purged-after")
}

// failingDelete is a DLQ stream whose first delete fails (NATS trouble).
type failingDelete struct {
	jetstream.Stream
	failed bool
}

func (s *failingDelete) SecureDeleteMsg(ctx context.Context, seq uint64) error {
	if !s.failed {
		s.failed = true
		return errors.New("delete refused")
	}
	return s.Stream.SecureDeleteMsg(ctx, seq)
}

// TestDLQReplayRefusesAnOversizedSubmission: a submission larger than the
// pipeline takes (layout.Resources.MaxSubmissionBytes) is dead-lettered as
// malformed though its payload decodes. Replayed unchanged it would be
// rejected again for its size: the replay is refused, saying why, and the
// letter kept, as is a correction still too large; a correction small
// enough is replayed and sent once. Both replays refused used to be
// reported as done, the letter removed, and the pipeline rejected them
// again into a new one.
func TestDLQReplayRefusesAnOversizedSubmission(t *testing.T) {
	d := startCLIDaemon(t)
	limit := d.res.MaxSubmissionBytes()
	if limit <= 0 {
		t.Fatalf("the submissions stream has no size limit (%d): nothing to test", limit)
	}
	data, err := os.ReadFile(eventFile(t, "big-1", nil))
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.LastIndexByte(data, '}') // white space inside the object: the same submission, larger
	data = slices.Concat(data[:end], bytes.Repeat([]byte(" "), limit+1-len(data)), data[end:])
	if _, errOut, code := runCLIInput(t, string(data), "submit", "--tenant", "acme", "-"); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)["big-1"]
	if dl.Reason != dlq.ReasonMalformed {
		t.Fatalf("dead letter: got %+v, want reason malformed", dl)
	}
	seq := fmt.Sprint(dl.Seq)
	out, errOut, code := runCLI(t, "dlq", "replay", seq)
	if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+seq) ||
		!strings.Contains(errOut, fmt.Sprintf("more than the %d a submission may have", limit)) {
		t.Errorf("unchanged replay of an oversized submission: exit %d, stdout %q, stderr %q; want 1 and why it is refused", code, out, errOut)
	}
	if left := deadLetters(t); len(left) != 1 || left[0].Seq != dl.Seq {
		t.Fatalf("dead letters after the refused replay: %+v; want %s kept, alone", left, seq)
	}
	corrected, err := os.ReadFile(eventFile(t, "big-1", func(f map[string]any) { f["$2"] = "m.rossi@example.org" }))
	if err != nil {
		t.Fatal(err)
	}
	end = bytes.LastIndexByte(corrected, '}')
	large := slices.Concat(corrected[:end], bytes.Repeat([]byte(" "), limit+1-len(corrected)), corrected[end:])
	out, errOut, code = runCLIInput(t, string(large), "dlq", "replay", "--payload", "-", seq)
	if code != 1 || out != "" || !strings.Contains(errOut, fmt.Sprintf("more than the %d a submission may have", limit)) {
		t.Errorf("a correction still too large: exit %d, stdout %q, stderr %q; want 1 and why it is refused", code, out, errOut)
	}
	if left := deadLetters(t); len(left) != 1 || left[0].Seq != dl.Seq {
		t.Fatalf("dead letters after the refused correction: %+v; want %s kept, alone", left, seq)
	}
	out, errOut, code = runCLIInput(t, string(corrected), "dlq", "replay", "--payload", "-", seq)
	if code != 0 || !strings.Contains(out, "replayed dead letter "+seq+" (acme/big-1), corrected") {
		t.Fatalf("a correction small enough: exit %d, stdout %q, stderr %q; want it replayed", code, out, errOut)
	}
	waitSubmitted(t, d, "big-1")
	if got := d.sim.sim.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestDLQReplayRefusesALetterOverALoweredLimit: a dead letter whose
// payload was within the size limit of a submission when it was stored,
// and is over it once the submissions stream's limit was lowered while the
// daemon runs (an operator, a replica started on servers with a smaller
// max_payload), is refused, saying the limit as the stream has it now, and
// kept: whatever its reason (expired here), the pipeline would reject it
// as malformed.
func TestDLQReplayRefusesALetterOverALoweredLimit(t *testing.T) {
	d := startCLIDaemon(t)
	ctx := context.Background()
	payload, err := iseeEvent("big-expired", "Mario")
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.LastIndexByte(payload, '}') // white space inside the object: the same submission, larger
	payload = slices.Concat(payload[:end], bytes.Repeat([]byte(" "), 40<<10), payload[end:])
	dl := dlq.DeadLetter{OriginalSubject: d.res.Layout.SubmissionSubject("acme"), StreamSeq: 1, Tenant: "acme",
		SubmissionID: "big-expired", Reason: dlq.ReasonExpired, Generation: 1}
	if err := dlq.Publish(ctx, d.js, d.res.Layout, dl, payload, dlq.MsgIDOfMessage("test", 1)); err != nil {
		t.Fatal(err)
	}
	seq := fmt.Sprint(waitDeadLetters(t, 1)["big-expired"].Seq)
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	st, err := js.Stream(ctx, d.res.Layout.SubmissionsStream())
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgSize = int32(len(payload) + 512) // stores it, but not with a replay's headers
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	limit := int(cfg.MaxMsgSize) - 1024 // layout.RepublishRoom
	out, errOut, code := runCLI(t, "dlq", "replay", seq)
	if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+seq) ||
		!strings.Contains(errOut, fmt.Sprintf("more than the %d a submission may have", limit)) {
		t.Errorf("replay of a letter over the lowered limit: exit %d, stdout %q, stderr %q; want 1 and why it is refused, naming %d", code, out, errOut, limit)
	}
	if left := deadLetters(t); len(left) != 1 || fmt.Sprint(left[0].Seq) != seq {
		t.Errorf("dead letters after the refused replay: %+v; want %s kept, alone", left, seq)
	}
}

// overrideGiveUp makes acme's submission id completed, as the upstream's
// completion leaves a record that gave up (docs/tracking.md, step 2): the
// final document stored, the failed entry kept, reason and errors gone.
func overrideGiveUp(t *testing.T, d *daemon, id string) {
	t.Helper()
	store := record.NewStore(d.res.Records)
	waitUntil(t, 20*time.Second, id+" to be completed", func() bool {
		rec, rev, err := store.Get(context.Background(), "acme", id)
		if err != nil || rec.State != record.StateFailed || rec.Reason != dlq.ReasonGaveUp {
			t.Fatalf("record of %s: %+v, %v; want failed, %s", id, rec, err, dlq.ReasonGaveUp)
		}
		next := rec.Clone()
		next.To(record.StateCompleted, time.Now(), "overrides "+dlq.ReasonGaveUp)
		next.Reason, next.Errors = "", nil
		next.Document = &record.DocumentRef{Bucket: "docs", Object: id, Size: 1, ContentType: "application/pdf", Stato: visengine.StateFulfilled}
		_, err = store.Update(context.Background(), next, rev)
		return err == nil
	})
}

// TestDLQReplayRefusesACompletedGiveUp: a gave_up dead letter whose
// submission the upstream's completion has since made completed reopens
// nothing (the tracker acknowledges its replay without effect): its
// replay is refused, saying so and to purge it, and the letter kept. A
// gave_up letter whose submission still failed is replayed and reopens its
// tracking. The first used to be reported as replayed and removed.
func TestDLQReplayRefusesACompletedGiveUp(t *testing.T) {
	t.Setenv("ISEED_TRACK_CLOCK", "100000,2026-01-12T08:00:00+01:00,"+time.Now().UTC().Format(time.RFC3339Nano))
	t.Setenv("ISEED_OVERDUE_WORKDAYS", "1")
	t.Setenv("ISEED_TRACK_MAX_AGE", "48h")
	d := startCLIDaemon(t)
	for _, id := range []string{"gave-up-1", "completed-1"} {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, id, nil)); code != 0 {
			t.Fatalf("submit %s: exit %d, %s", id, code, errOut)
		}
	}
	byID := waitDeadLetters(t, 2)
	failed, completed := byID["gave-up-1"], byID["completed-1"]
	if failed.Reason != dlq.ReasonGaveUp || completed.Reason != dlq.ReasonGaveUp {
		t.Fatalf("dead letters: got %+v; want two gave_up", byID)
	}
	overrideGiveUp(t, d, "completed-1")
	seq := fmt.Sprint(completed.Seq)
	out, errOut, code := runCLI(t, "dlq", "replay", seq)
	if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+seq) ||
		!strings.Contains(errOut, "the submission is completed: nothing to reopen") || !strings.Contains(errOut, "iseed dlq purge "+seq) {
		t.Errorf("replay of a gave_up letter whose submission is completed: exit %d, stdout %q, stderr %q; want 1, why and the purge", code, out, errOut)
	}
	if left := deadLetters(t); len(left) != 2 {
		t.Errorf("dead letters after the refused replay: %+v; want both kept", left)
	}
	out, errOut, code = runCLI(t, "dlq", "replay", fmt.Sprint(failed.Seq))
	if want := fmt.Sprintf("replayed dead letter %d (acme/gave-up-1) to ", failed.Seq); code != 0 || !strings.HasPrefix(out, want) {
		t.Fatalf("replay of a gave_up letter whose submission still failed: exit %d, stdout %q, stderr %q; want 0 and %q", code, out, errOut, want)
	}
	waitUntil(t, 20*time.Second, "gave-up-1's tracking to reopen", func() bool {
		rec, _, err := record.NewStore(d.res.Records).Get(context.Background(), "acme", "gave-up-1")
		return err == nil && rec.Replayed(failed.Seq)
	})
	if got := d.sim.sim.Counters()["created"]; got != 2 {
		t.Errorf("upstream requests: got %d, want 2", got)
	}
}

// rejectedThenMalformed submits id with a bad e-mail (rejected, no
// request: its record takes a correction), then the same id with a valid
// payload under a message id of the producer's own (a malformed letter
// whose payload is another submission than the recorded one). It returns
// the rejected record, the valid payload's file and bytes, and the
// malformed letter's sequence.
func rejectedThenMalformed(t *testing.T, d *daemon, id string) (before *record.Record, file string, data []byte, seq uint64) {
	t.Helper()
	ctx := context.Background()
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, id, badEmail)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	waitDeadLetters(t, 1)
	before, _, err := record.NewStore(d.res.Records).Get(ctx, "acme", id)
	if err != nil || before.State != record.StateRejected {
		t.Fatalf("record: %+v, %v; want rejected", before, err)
	}
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	file = eventFile(t, id, nil)
	if data, err = os.ReadFile(file); err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("iseed.submissions.acme")
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, "my-own-id")
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	waitDeadLetters(t, 2)
	malformed := deadLetters(t, "--reason", dlq.ReasonMalformed)
	if len(malformed) != 1 || malformed[0].SubmissionID != id {
		t.Fatalf("malformed dead letters: %+v, want %s's", malformed, id)
	}
	return before, file, data, malformed[0].Seq
}
