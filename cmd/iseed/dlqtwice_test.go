package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestDLQReplayByTwoOperatorsAtOnce: two operators replay the same dead
// letters at the same moment. Each letter is replayed once: one command
// says "replayed", the other that it did not replay it (a replay is in
// the stream already, or the letter is gone), and each submission is sent
// once. Both used to say "replayed", each publishing a replay.
func TestDLQReplayByTwoOperatorsAtOnce(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // the upstream refuses every POST: nothing created
	const n = 4
	for i := range n {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, fmt.Sprintf("two-%d", i), nil)); code != 0 {
			t.Fatalf("submit: exit %d, %s", code, errOut)
		}
	}
	waitDeadLetters(t, n)
	d.sim.sim.SetFaults(sim.Faults{})
	ctx := context.Background()
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	subs, err := js.Stream(ctx, d.res.Layout.SubmissionsStream())
	if err != nil {
		t.Fatal(err)
	}
	before, err := subs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var stdout, stderr [2]bytes.Buffer
	var codes [2]int
	for i := range 2 {
		wg.Go(func() {
			err := run(ctx, []string{"dlq", "replay", "--reason", "upstream_rejected"}, strings.NewReader(""), &stdout[i], &stderr[i])
			codes[i] = exitCode(err)
		})
	}
	wg.Wait()
	said := strings.Count(stdout[0].String(), "replayed dead letter") + strings.Count(stdout[1].String(), "replayed dead letter")
	after, err := subs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stored := after.State.Msgs - before.State.Msgs; stored != n || said != n {
		t.Errorf("two operators replaying %d letters at once: %d replays stored, %d said replayed, want %d and %d\n"+
			"first: exit %d, stdout %q, stderr %q\nsecond: exit %d, stdout %q, stderr %q",
			n, stored, said, n, n, codes[0], stdout[0].String(), stderr[0].String(), codes[1], stdout[1].String(), stderr[1].String())
	}
	if left := deadLetters(t); len(left) != 0 {
		t.Errorf("dead letters after both: %+v, want none", left)
	}
	for i := range n {
		waitSubmitted(t, d, fmt.Sprintf("two-%d", i))
	}
	if got := d.sim.sim.Counters()["created"]; got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
}

// TestDLQReplayRefusesALetterOfASentSubmission: a dead letter whose
// submission has its upstream request by now (a late answer adopted it,
// another letter of it was replayed) would reopen nothing: the replay is
// refused, saying so and to purge it, and the letter kept. It used to be
// "replayed" (exit 0), the letter removed, and nothing reopened.
func TestDLQReplayRefusesALetterOfASentSubmission(t *testing.T) {
	d, dl := letterOfASentSubmission(t)
	seq := fmt.Sprint(dl.Seq)
	out, errOut, code := runCLI(t, "dlq", "replay", seq)
	if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+seq) ||
		!strings.Contains(errOut, "req-other-route") || !strings.Contains(errOut, "iseed dlq purge "+seq) {
		t.Errorf("replay of a letter whose submission has its request: exit %d, stdout %q, stderr %q; want 1, why and the purge", code, out, errOut)
	}
	if left := deadLetters(t); len(left) != 1 {
		t.Errorf("dead letters after the refused replay: %+v; want it kept", left)
	}
	if got := d.sim.sim.Counters()["created"]; got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
}

// letterOfASentSubmission dead-letters submission acme/sent-later (the
// upstream refuses its POST), then gives its record an upstream request,
// as a late answer adopted by another route would: the letter's
// submission has its request by now.
func letterOfASentSubmission(t *testing.T) (*daemon, dlq.DeadLetter) {
	t.Helper()
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "sent-later", nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)["sent-later"]
	d.sim.sim.SetFaults(sim.Faults{})
	ctx := context.Background()
	store := record.NewStore(d.res.Records)
	rec, rev, err := store.Get(ctx, "acme", "sent-later")
	if err != nil {
		t.Fatal(err)
	}
	rec.To(record.StateSubmitted, time.Now(), "adopted by another route")
	rec.RequestID, rec.Reason = "req-other-route", ""
	if _, err := store.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	return d, dl
}

// TestDLQCorrectionRefusesALetterOfASentSubmission: a correction of a dead
// letter whose submission has its upstream request by now is refused as
// the unchanged replay is, saying so and to purge it, and the letter kept.
// The pipeline takes another payload under the id of a submission that has
// its request for a conflict: it used to be "replayed, corrected" (exit 0),
// the letter removed, and a conflict letter and event stored in its place,
// telling the tenant of a conflict for a submission that was sent.
func TestDLQCorrectionRefusesALetterOfASentSubmission(t *testing.T) {
	d, dl := letterOfASentSubmission(t)
	corrected, err := os.ReadFile(eventFile(t, "sent-later", func(f map[string]any) { f["$2"] = "m.rossi@example.org" }))
	if err != nil {
		t.Fatal(err)
	}
	seq := fmt.Sprint(dl.Seq)
	out, errOut, code := runCLIInput(t, string(corrected), "dlq", "replay", "--payload", "-", seq)
	if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+seq) ||
		!strings.Contains(errOut, "req-other-route") || !strings.Contains(errOut, "iseed dlq purge "+seq) {
		t.Errorf("correction of a letter whose submission has its request: exit %d, stdout %q, stderr %q; want 1, why and the purge", code, out, errOut)
	}
	if left := deadLetters(t); len(left) != 1 || left[0].Seq != dl.Seq {
		t.Errorf("dead letters after the refused correction: %+v; want %s kept, alone", left, seq)
	}
	if got := d.sim.sim.Counters()["created"]; got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
}

// TestAuditDisownWhoseReplayFails: audit disown records the request in the
// request index, then replays the ambiguous letter; when the replay fails
// (the tenant is at its quota), the command says the index entry stays,
// and that running it again replays the letter. It used to print only the
// replay's error, as if nothing had changed.
func TestAuditDisownWhoseReplayFails(t *testing.T) {
	t.Setenv("ISEED_SIM_PROFILE", "published")
	t.Setenv("ISEED_RECONCILE_SETTLE", "1s")
	t.Setenv("ISEED_ACK_WAIT", "2s")
	t.Setenv("ISEED_ADOPT_GRACE", "2s") // the least: the window for a claim of the outside request, 6 s by default
	d, _ := startCLIDaemonWith(t, func(c *Config) { c.TenantMaxSubs = 1 })
	ctx := context.Background()
	const id = "disown-quota"
	outside, _ := ambiguousBesideAnOutsideRequest(t, d, id)
	out, errOut, code := runCLI(t, "audit", "disown", outside.ID, "--tenant", "acme", "--submission", id)
	if code != 1 || out != "" || !strings.Contains(errOut, "quota") ||
		!strings.Contains(errOut, "the request index records request "+outside.ID+" as not iseed's all the same") ||
		!strings.Contains(errOut, "run this command again") {
		t.Errorf("disown whose replay fails: exit %d, stdout %q, stderr %q; want 1, the replay's error, and that the index entry stays", code, out, errOut)
	}
	owner, _, err := record.LeaderGet(ctx, d.js, d.res.Layout.RequestsBucket(), record.IndexKey(outside.ID))
	if key, ok := record.DisownedFor(string(owner)); err != nil || !ok || key != record.Key("acme", id) {
		t.Errorf("request index entry of %s: %q (%v); want it disowned for acme.%s", outside.ID, owner, err, id)
	}
	if left := deadLetters(t); len(left) != 1 {
		t.Errorf("dead letters after the failed replay: %+v; want the ambiguous one kept", left)
	}
}

// TestDLQCorrectionRefusesALetterOfAReopenedSubmission: a correction of a
// dead letter whose submission another letter's replay reopened (claimed,
// or held for a budget) is refused, saying why and what to do, and the
// letter kept: the pipeline takes another payload under the id of an open
// submission for a conflict. It used to be "replayed, corrected" (exit 0),
// the letter removed, and a conflict letter and event stored in its place,
// telling the tenant of a conflict for a submission on its way.
func TestDLQCorrectionRefusesALetterOfAReopenedSubmission(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	states := []string{record.StateClaimed, record.StateHeld}
	for _, state := range states {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "reopened-"+state, nil)); code != 0 {
			t.Fatalf("submit: exit %d, %s", code, errOut)
		}
	}
	letters := waitDeadLetters(t, len(states))
	d.sim.sim.SetFaults(sim.Faults{})
	ctx := context.Background()
	store := record.NewStore(d.res.Records)
	for _, state := range states {
		t.Run(state, func(t *testing.T) {
			id := "reopened-" + state
			dl := letters[id]
			rec, rev, err := store.Get(ctx, "acme", id)
			if err != nil {
				t.Fatal(err)
			}
			// Another letter of the submission reopened it (its sequence is
			// not this one's): it is on its way, or held.
			rec.Generation++
			rec.AddReplay(dl.Seq+1000, time.Now())
			rec.To(state, time.Now(), "replay of another dead letter")
			rec.Reason = ""
			if _, err := store.Update(ctx, rec, rev); err != nil {
				t.Fatal(err)
			}
			corrected, err := os.ReadFile(eventFile(t, id, func(f map[string]any) { f["$2"] = "m.rossi@example.org" }))
			if err != nil {
				t.Fatal(err)
			}
			seq := fmt.Sprint(dl.Seq)
			out, errOut, code := runCLIInput(t, string(corrected), "dlq", "replay", "--payload", "-", seq)
			if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+seq) ||
				!strings.Contains(errOut, "is open again") || !strings.Contains(errOut, "iseed dlq purge "+seq) {
				t.Errorf("correction of a letter whose submission is %s: exit %d, stdout %q, stderr %q; want 1, why and what to do", state, code, out, errOut)
			}
			if _, err := dlq.NewQueue(d.js, d.res, nil, nil).Get(ctx, dl.Seq); err != nil {
				t.Errorf("dead letter %s after the refused correction: %v; want it kept", seq, err)
			}
		})
	}
	if left := deadLetters(t); len(left) != len(states) {
		t.Errorf("dead letters after the refused corrections: %+v; want the %d letters alone (no conflict)", left, len(states))
	}
}

// TestDLQReplayRefusesALetterOfAReopenedSubmission: a plain replay of a
// dead letter whose submission another letter's replay reopened (claimed,
// a delivery working on it, or held for a budget) is refused, naming the
// state and what to do, the letter kept and nothing published; once the
// submission has failed again, the same replay reopens it and it is sent
// once. It used to be "replayed" (exit 0) and the letter removed, though
// it reopened nothing: its message waited behind the other delivery's
// lease, then was acknowledged if that delivery sent the submission, or,
// if that delivery failed it, reopened it for yet another attempt that
// nobody had asked for after that failure.
func TestDLQReplayRefusesALetterOfAReopenedSubmission(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	states := []string{record.StateClaimed, record.StateHeld}
	for _, state := range states {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "replayed-while-"+state, nil)); code != 0 {
			t.Fatalf("submit: exit %d, %s", code, errOut)
		}
	}
	letters := waitDeadLetters(t, len(states))
	d.sim.sim.SetFaults(sim.Faults{})
	ctx := context.Background()
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	subs, err := js.Stream(ctx, d.res.Layout.SubmissionsStream())
	if err != nil {
		t.Fatal(err)
	}
	store := record.NewStore(d.res.Records)
	for _, state := range states {
		t.Run(state, func(t *testing.T) {
			id := "replayed-while-" + state
			dl := letters[id]
			rec, rev, err := store.Get(ctx, "acme", id)
			if err != nil {
				t.Fatal(err)
			}
			// Another letter of the submission reopened it (its sequence is
			// not this one's): a delivery holds it under its lease, or a
			// spending cap holds it.
			now := time.Now()
			rec.Generation++
			rec.AddReplay(dl.Seq+1000, now)
			rec.To(state, now, "replay of another dead letter")
			rec.Reason, rec.Errors = "", nil
			if state == record.StateClaimed {
				rec.Attempts++
				rec.Pending = &record.Attempt{Started: now, Owner: "another-delivery/1", Until: now.Add(time.Hour), Unsent: true}
			} else {
				rec.HeldSince = now
			}
			if rev, err = store.Update(ctx, rec, rev); err != nil {
				t.Fatal(err)
			}
			before, err := subs.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			seq := fmt.Sprint(dl.Seq)
			out, errOut, code := runCLI(t, "dlq", "replay", seq)
			if code != 1 || out != "" || !strings.Contains(errOut, "refused dead letter "+seq) ||
				!strings.Contains(errOut, "the submission is "+state) || !strings.Contains(errOut, "iseed status --tenant acme "+id) ||
				!strings.Contains(errOut, "iseed dlq purge "+seq) {
				t.Errorf("replay of a letter whose submission is %s: exit %d, stdout %q, stderr %q; want 1, the state, and what to do", state, code, out, errOut)
			}
			if _, err := dlq.NewQueue(d.js, d.res, nil, nil).Get(ctx, dl.Seq); err != nil {
				t.Errorf("dead letter %s after the refused replay: %v; want it kept", seq, err)
			}
			if after, err := subs.Info(ctx); err != nil || after.State.LastSeq != before.State.LastSeq {
				t.Errorf("submissions stream after the refused replay: last sequence %d (%v), want %d: nothing published",
					after.State.LastSeq, err, before.State.LastSeq)
			}

			// The submission fails again (as that delivery, or the hold's
			// end, leaves it): the letter is replayed, and reopens it.
			rec.To(record.StateFailed, time.Now(), dlq.ReasonUpstreamRejected)
			rec.Reason, rec.Pending, rec.HeldSince = dlq.ReasonUpstreamRejected, nil, time.Time{}
			if rec.Attempts > 0 && state == record.StateClaimed {
				rec.Attempts-- // its Unsent lease sent nothing
			}
			if _, err := store.Update(ctx, rec, rev); err != nil {
				t.Fatal(err)
			}
			if out, errOut, code := runCLI(t, "dlq", "replay", seq); code != 0 || !strings.Contains(out, "replayed dead letter "+seq) {
				t.Fatalf("replay once the submission failed again: exit %d, stdout %q, stderr %q; want it replayed", code, out, errOut)
			}
			waitSubmitted(t, d, id)
		})
	}
	if got := d.sim.sim.Counters()["created"]; got != len(states) {
		t.Errorf("upstream requests: got %d, want %d, one per submission", got, len(states))
	}
	if left := deadLetters(t); len(left) != 0 {
		t.Errorf("dead letters at the end: %+v; want none", left)
	}
}

// TestDLQCorrectionRechecksAfterTheEdit: the submission of a letter being
// corrected in the editor is reopened meanwhile (another of its letters
// replayed: held, or on its way). The correction is refused once the
// editor ends, as one given while the submission was open is, and the
// letter kept. The record was read only before the editor, which may stay
// open for minutes: the correction was "replayed, corrected" (exit 0), the
// letter removed, and the pipeline took it for a conflict, telling the
// tenant of a conflict for a submission on its way.
func TestDLQCorrectionRechecksAfterTheEdit(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	const id = "reopened-while-edited"
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, id, nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)[id]
	d.sim.sim.SetFaults(sim.Faults{})
	// The editor writes the correction, says so, and waits until told to
	// end, as a person takes their time.
	dir := t.TempDir()
	corrected := eventFile(t, id, func(f map[string]any) { f["$2"] = "m.rossi@example.org" })
	started, proceed := filepath.Join(dir, "started"), filepath.Join(dir, "proceed")
	script := filepath.Join(dir, "editor")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat "+corrected+" > \"$1\" && touch "+started+
		"\nwhile [ ! -e "+proceed+" ]; do sleep 0.05; done\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VISUAL", script)
	seq := fmt.Sprint(dl.Seq)
	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := runCLI(t, "dlq", "replay", "--edit", seq)
		done <- result{out, errOut, code}
	}()
	waitUntil(t, 20*time.Second, "the editor to have the payload", func() bool { _, err := os.Stat(started); return err == nil })
	// Another letter of the submission is replayed meanwhile: it is held.
	ctx := context.Background()
	store := record.NewStore(d.res.Records)
	rec, rev, err := store.Get(ctx, "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	rec.Generation++
	rec.AddReplay(dl.Seq+1000, time.Now())
	rec.To(record.StateHeld, time.Now(), "replay of another dead letter")
	rec.Reason = ""
	if _, err := store.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(proceed, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the correction did not end after the editor")
	}
	if r.code != 1 || r.out != "" || !strings.Contains(r.errOut, "refused dead letter "+seq) || !strings.Contains(r.errOut, "is open again") {
		t.Errorf("correction of a letter whose submission was reopened during the edit: exit %d, stdout %q, stderr %q; want 1 and why", r.code, r.out, r.errOut)
	}
	if left := deadLetters(t); len(left) != 1 || left[0].Seq != dl.Seq {
		t.Errorf("dead letters after the refused correction: %+v; want %s kept, alone (no conflict)", left, seq)
	}
}

// TestDLQCorrectionOfALetterAnotherReplayHolds: a correction (--payload,
// --edit) of a dead letter whose claim another replay, or a purge, holds
// at that moment, or whose claim says it was replayed already, says so as
// a plain replay of it does: which letter, not replayed, what to do; exit
// 1. It used to end with the queue's bare error ("iseed dlq replay: dlq:
// replay N: another replay …"), worded unlike the plain replay's.
func TestDLQCorrectionOfALetterAnotherReplayHolds(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // rejected upstream: replayable, correctable
	claims := []struct {
		name, claim, said string // said: the plain replay's words, %d the letter
	}{
		{"under-way", `{"at":"%s"}`, "dead letter %d not replayed: " + dlq.ErrReplayUnderWay.Error() + "\n"},
		{"replayed", `{"at":"%s","published":true}`, "dead letter %d not replayed by this command: " + dlq.ErrReplayedAlready.Error() +
			"; it reopens the submission once, and the letter is gone from the queue\n"},
	}
	modes := []string{"plain", "payload", "edit"}
	for _, c := range claims {
		for _, mode := range modes {
			if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, c.name+"-"+mode, nil)); code != 0 {
				t.Fatalf("submit: exit %d, %s", code, errOut)
			}
		}
	}
	byID := waitDeadLetters(t, len(claims)*len(modes))
	d.sim.sim.SetFaults(sim.Faults{})
	ctx := context.Background()
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	st, err := js.Stream(ctx, d.res.Layout.DLQStream())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDITOR", editor(t, "s/mario.rossi@example.it/m.rossi@example.it/"))
	t.Setenv("VISUAL", "")
	for _, c := range claims {
		for _, mode := range modes {
			id := c.name + "-" + mode
			dl := byID[id]
			m, err := st.GetMsg(ctx, dl.Seq)
			if err != nil {
				t.Fatal(err)
			}
			// The claim of another replay (dlq's claimKey: the letter's
			// sequence and stored time), taken a moment ago.
			key := fmt.Sprintf("replay-claim-%d-%d", dl.Seq, m.Time.UnixNano())
			if _, err := d.res.Keys.Create(ctx, key, fmt.Appendf(nil, c.claim, time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
				t.Fatal(err)
			}
			args, input := []string{"dlq", "replay"}, ""
			switch mode {
			case "payload":
				corrected, err := os.ReadFile(eventFile(t, id, func(f map[string]any) { f["$2"] = "m.rossi@example.it" }))
				if err != nil {
					t.Fatal(err)
				}
				args, input = append(args, "--payload", "-"), string(corrected)
			case "edit":
				args = append(args, "--edit")
			}
			out, errOut, code := runCLIInput(t, input, append(args, fmt.Sprint(dl.Seq))...)
			if want := fmt.Sprintf(c.said, dl.Seq); code != 1 || out != "" || errOut != want {
				t.Errorf("%s, %s: exit %d, stdout %q, stderr %q; want 1 and %q", c.name, mode, code, out, errOut, want)
			}
		}
	}
	var left []string
	for _, dl := range deadLetters(t) {
		left = append(left, dl.SubmissionID)
	}
	if slices.Sort(left); !slices.Equal(left, []string{"under-way-edit", "under-way-payload", "under-way-plain"}) {
		t.Errorf("dead letters left: %v; want those under way", left)
	}
}
