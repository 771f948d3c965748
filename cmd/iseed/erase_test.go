package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go/jetstream"
)

// runErase runs iseed erase -o json with stdin and reads its report.
func runErase(t *testing.T, stdin string, args ...string) (erasureReport, string, int) {
	t.Helper()
	out, errOut, code := runCLIInput(t, stdin, append([]string{"erase", "--yes", "-o", "json"}, args...)...)
	var rep erasureReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("erase %v: exit %d, stdout %q, stderr %q: %v", args, code, out, errOut, err)
	}
	return rep, errOut, code
}

// outcomes maps each submission of a report to what erase did with it.
func outcomes(rep erasureReport) map[string]erasure {
	m := map[string]erasure{}
	for _, x := range rep.Submissions {
		m[x.Submission] = x
	}
	return m
}

// TestEraseOnePersonNow is the data-protection officer's erasure request:
// one person's completed submission with its documents and their failed
// one with its dead letter are erased by iseed erase; a submission a cap
// holds open (another tenant's, another person's) is refused and left as
// it is. Afterwards the person's tax code and name are in no stream,
// bucket or object store on the server, their ISEE history entry is gone,
// run again the command finds nothing left, and the same submissions
// published again are not sent again: their scrubbed records still stop
// them. A dead letter that cannot be purged (a replay of it under way)
// leaves its record unscrubbed: a replay after the scrub would reopen it.
func TestEraseOnePersonNow(t *testing.T) {
	srv := cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "100ms")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startWalkDaemon(t, cfg, &pipetest.Buffer{})
	ctx := context.Background()
	store := record.NewStore(d.res.Records)
	submit := func(tenant, path string) {
		t.Helper()
		if out, errOut, code := runCLI(t, "submit", "--tenant", tenant, path); code != 0 {
			t.Fatalf("submit %s: exit %d, %s %s", path, code, out, errOut)
		}
	}
	waitRecord := recordWaiter(t, d.res, 60*time.Second)

	submit("acme", walkEvent(t, "erase-done", nil))
	done := waitRecord("acme", "erase-done", func(r *record.Record) bool {
		return r.Closed() && r.Document != nil && r.Document.Stato == visengine.StateFulfilled
	})
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	submit("acme", walkEvent(t, "erase-failed", nil))
	waitRecord("acme", "erase-failed", func(r *record.Record) bool { return r.Closed() })
	d.sim.sim.SetFaults(sim.Faults{})
	letter := waitDeadLetters(t, 1)["erase-failed"]
	if _, errOut, code := runCLI(t, "budget", "set", "--tenant", "globex", "--monthly-eur", "1"); code != 0 {
		t.Fatalf("budget set: exit %d, %s", code, errOut)
	}
	waitUntil(t, 20*time.Second, "the daemon to have globex's cap", func() bool { return d.pipeline.CapsApply("globex") })
	submit("globex", eventFile(t, "erase-open", nil))
	waitRecord("globex", "erase-open", func(r *record.Record) bool { return r.State == record.StateHeld })
	waitUntil(t, 20*time.Second, "the person's ISEE history entry", func() bool {
		_, err := d.res.History.Get(ctx, done.PersonKey)
		return err == nil
	})
	_, openRev, err := store.Get(ctx, "globex", "erase-open")
	if err != nil {
		t.Fatal(err)
	}

	// A replay of the dead letter under way: the letter cannot be purged,
	// and the record is not scrubbed.
	claim := fmt.Sprintf("replay-claim-%d-%d", letter.Seq, letter.Stored.UnixNano())
	if _, err := d.res.Keys.Create(ctx, claim, fmt.Appendf(nil, `{"at":%q}`, time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		t.Fatal(err)
	}
	// Not confirmed, or --tax-code-stdin without --yes: nothing erased
	// (what follows counts the dead letter and scrubs the record).
	if out, errOut, code := runCLIInput(t, "n\n", "erase", "--tenant", "acme", "erase-failed"); code != 1 || out != "" || !strings.Contains(errOut, "not confirmed: nothing erased") {
		t.Errorf("erase not confirmed: exit %d, stdout %q, stderr %q; want 1 and nothing erased", code, out, errOut)
	}
	if _, errOut, code := runCLIInput(t, walkTaxCode+"\n", "erase", "--tenant", "acme", "--tax-code-stdin", "erase-failed"); code != 2 || !strings.Contains(errOut, "needs --yes") {
		t.Errorf("erase --tax-code-stdin without --yes: exit %d, stderr %q; want 2", code, errOut)
	}
	rep, errOut, code := runErase(t, "", "--tenant", "acme", "erase-failed")
	if x := outcomes(rep)["erase-failed"]; code != 1 || x.Outcome != eraseFailed || x.DeadLetters != 0 || x.RecordScrubbed {
		t.Errorf("erase while a replay of the dead letter is under way: exit %d, %+v, stderr %q; want 1, failed, the letter and the record kept", code, x, errOut)
	}
	if r, _, err := store.Get(ctx, "acme", "erase-failed"); err != nil || !r.Scrubbed.IsZero() || len(r.Metadata) == 0 {
		t.Errorf("the record of a dead letter not purged: scrubbed %v, metadata %s (%v); want it not scrubbed", r.Scrubbed, r.Metadata, err)
	}
	if err := d.res.Keys.Delete(ctx, claim); err != nil {
		t.Fatal(err)
	}

	// Another person's tax code: refused, nothing erased; one that is
	// none is a usage mistake that does not quote it.
	_, doneRev, err := store.Get(ctx, "acme", "erase-done")
	if err != nil {
		t.Fatal(err)
	}
	rep, errOut, code = runErase(t, "RSSMRA85T10A562S\n", "--tenant", "acme", "--tax-code-stdin", "erase-done")
	if x := outcomes(rep)["erase-done"]; code != 1 || x.Outcome != refusedOpen || !strings.Contains(x.Why, "another person") || rep.History != historyNotTouched {
		t.Errorf("erase with another person's tax code: exit %d, %+v, history %q, stderr %q; want 1, refused, history not touched", code, x, rep.History, errOut)
	}
	if _, rev, err := store.Get(ctx, "acme", "erase-done"); err != nil || rev != doneRev {
		t.Errorf("the record after a refused erase: revision %d (%v), want %d", rev, err, doneRev)
	}
	if out, errOut, code := runCLIInput(t, "Quirinella Zwykowska\n", "erase", "--yes", "--tenant", "acme", "--tax-code-stdin", "erase-done"); code != 2 || out != "" || strings.Contains(errOut, walkName) {
		t.Errorf("erase with no tax code on stdin: exit %d, stdout %q, stderr %q; want 2, nothing, and what was read not quoted", code, out, errOut)
	}
	mistyped := walkTaxCode[:15] + map[bool]string{true: "A", false: "B"}[walkTaxCode[15] != 'A'] // the check character wrong
	if out, errOut, code := runCLIInput(t, mistyped+"\n", "erase", "--yes", "--tenant", "acme", "--tax-code-stdin", "erase-done"); code != 2 || out != "" ||
		!strings.Contains(errOut, "check character") || strings.Contains(errOut, mistyped) {
		t.Errorf("erase with a mistyped tax code: exit %d, stdout %q, stderr %q; want 2, the check character named, the code not quoted", code, out, errOut)
	}
	if _, rev, err := store.Get(ctx, "acme", "erase-done"); err != nil || rev != doneRev {
		t.Errorf("the record after an erase with a mistyped tax code: revision %d (%v), want %d", rev, err, doneRev)
	}

	posts := d.sim.sim.Counters()["POST /richiesta"]
	rep, errOut, code = runErase(t, walkTaxCode+"\n", "--tenant", "acme", "--tax-code-stdin", "erase-done", "erase-failed", "erase-nobody")
	got := outcomes(rep)
	if x := got["erase-done"]; x.Outcome != erased || x.SubmissionMessages != 1 || x.EventMessages == 0 || x.Documents == 0 || !x.RecordScrubbed {
		t.Errorf("erase-done: %+v; want erased, its message, events and documents removed, its record scrubbed", x)
	}
	if x := got["erase-failed"]; x.Outcome != erased || x.DeadLetters != 1 || x.SubmissionMessages == 0 || !x.RecordScrubbed {
		t.Errorf("erase-failed: %+v; want erased, its dead letter and messages removed, its record scrubbed", x)
	}
	if x := got["erase-nobody"]; code != 1 || x.Outcome != unknownID || rep.History != historyDeleted {
		t.Errorf("an unknown id beside them: exit %d, %+v, history %q, stderr %q; want 1, unknown, the history entry deleted", code, x, rep.History, errOut)
	}
	rep, errOut, code = runErase(t, "", "--tenant", "globex", "erase-open")
	if x := outcomes(rep)["erase-open"]; code != 1 || x.Outcome != refusedOpen || !strings.Contains(x.Why, "held") || rep.History != historyNotTouched {
		t.Errorf("an open submission: exit %d, %+v, history %q, stderr %q; want 1, refused naming why, history not touched", code, x, rep.History, errOut)
	}
	if _, rev, err := store.Get(ctx, "globex", "erase-open"); err != nil || rev != openRev {
		t.Errorf("the open submission's record: revision %d (%v), want %d, untouched", rev, err, openRev)
	}
	subject := d.res.Layout.SubmissionSubject("globex")
	info, err := d.res.Submissions.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	if n := info.State.Subjects[subject]; n != 1 {
		t.Errorf("the open submission's messages: %d, want its 1 kept", n)
	}

	// Nothing of the person is left on the server.
	list := srv.JS.ListStreams(ctx)
	var hits []personalHit
	for info := range list.Info() {
		hits = append(hits, findInStream(t, srv.JS, info)...)
		if info.Config.Name == "OBJ_"+done.Document.Bucket && info.State.Msgs != 0 {
			t.Errorf("%s: %d messages left, want none (no object, no deleted object's marker)", info.Config.Name, info.State.Msgs)
		}
	}
	if err := list.Err(); err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		t.Errorf("%q found in %s: %s", h.value, h.place, h.detail)
	}
	if _, err := d.res.History.Get(ctx, done.PersonKey); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the ISEE history entry after erase: %v, want %v", err, jetstream.ErrKeyNotFound)
	}
	for _, id := range []string{"erase-done", "erase-failed"} {
		if r, _, err := store.Get(ctx, "acme", id); err != nil || r.Scrubbed.IsZero() || r.PersonKey != "" || len(r.Metadata) > 0 {
			t.Errorf("the record of %s after erase: %v; want it kept, scrubbed", id, err)
		}
	}
	if left := deadLetters(t, "--tenant", "acme"); len(left) != 0 {
		t.Errorf("dead letters after erase: %+v, want none", left)
	}

	// Again: nothing left, in a table too.
	rep, errOut, code = runErase(t, walkTaxCode+"\n", "--tenant", "acme", "--tax-code-stdin", "erase-done", "erase-failed")
	for _, x := range rep.Submissions {
		if code != 0 || x.Outcome != nothingLeft || rep.History != historyNoEntry {
			t.Errorf("erase again: exit %d, %+v, history %q, stderr %q; want 0, nothing left, no entry", code, x, rep.History, errOut)
		}
	}
	out, errOut, code := runCLIInput(t, "y\n", "erase", "--tenant", "acme", "-o", "table", "erase-done")
	if code != 0 || !strings.Contains(out, "acme/erase-done: nothing left to erase: 0 dead letter(s), 0 submission message(s), 0 event(s), 0 document(s) removed; record scrubbed already") ||
		!strings.Contains(out, "ISEE history: not touched: no --tax-code-stdin") {
		t.Errorf("erase again, as a table: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	// iseed status no longer offers the erased document.
	if out, errOut, code := runCLI(t, "status", "-o", "table", "--tenant", "acme", "erase-done"); code != 0 || !strings.Contains(out, "no longer kept: deleted") {
		t.Errorf("status of the erased submission: exit %d, stdout %q, stderr %q; want its document no longer kept", code, out, errOut)
	}

	// The same submissions published again are not sent again.
	js := srv.JS
	var last uint64
	for _, id := range []string{"erase-done", "erase-failed"} {
		b, err := os.ReadFile(walkEvent(t, id, nil))
		if err != nil {
			t.Fatal(err)
		}
		ack, err := js.Publish(ctx, d.res.Layout.SubmissionSubject("acme"), b) // no message id: never a duplicate
		if err != nil || ack.Duplicate {
			t.Fatalf("publish %s again: %+v, %v", id, ack, err)
		}
		last = ack.Sequence
	}
	waitUntil(t, 30*time.Second, "the submissions published again to be dealt with", func() bool {
		info, err := d.res.Consumer.Info(ctx)
		return err == nil && info.AckFloor.Stream >= last && info.NumAckPending == 0
	})
	if now := d.sim.sim.Counters()["POST /richiesta"]; now != posts {
		t.Errorf("POST /richiesta after the erased submissions were published again: %d, want %d (none more)", now, posts)
	}
}
