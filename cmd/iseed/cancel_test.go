package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestCancelHeldSubmissions is the operator facing a tenant's runaway
// backlog that a spending cap holds: iseed cancel fails the held
// submissions cancelled_by_operator (one by id, then the rest with
// --all-held), nothing sent; an unknown id and a sent submission are said
// and left, exit 1; not confirmed, nothing is cancelled. A cancelled
// submission is closed, so iseed erase takes it.
func TestCancelHeldSubmissions(t *testing.T) {
	cliEnv(t)
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startWalkDaemon(t, cfg, &pipetest.Buffer{})
	ctx := context.Background()
	store := record.NewStore(d.res.Records)
	waitRecord := recordWaiter(t, d.res, 30*time.Second)
	isState := func(state string) func(*record.Record) bool {
		return func(r *record.Record) bool { return r.State == state }
	}
	cancelled := func(r *record.Record) bool {
		return r.State == record.StateFailed && r.Reason == dlq.ReasonCancelledByOperator && r.RequestID == ""
	}
	if _, errOut, code := runCLI(t, "budget", "set", "--tenant", "globex", "--monthly-eur", "1"); code != 0 {
		t.Fatalf("budget set: exit %d, %s", code, errOut)
	}
	waitUntil(t, 20*time.Second, "the daemon to have globex's cap", func() bool { return d.pipeline.CapsApply("globex") })
	for _, id := range []string{"held-1", "held-2", "held-3"} {
		if out, errOut, code := runCLI(t, "submit", "--tenant", "globex", eventFile(t, id, nil)); code != 0 {
			t.Fatalf("submit %s: exit %d, %s %s", id, code, out, errOut)
		}
		waitRecord("globex", id, isState(record.StateHeld))
	}
	if out, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "sent-1", nil)); code != 0 {
		t.Fatalf("submit sent-1: exit %d, %s %s", code, out, errOut)
	}
	// Sent: its upstream request recorded (the tracker may have moved it
	// on already).
	waitRecord("acme", "sent-1", func(r *record.Record) bool { return r.RequestID != "" })

	if out, errOut, code := runCLIInput(t, "n\n", "cancel", "--tenant", "globex", "held-1"); code != 1 || out != "" || !strings.Contains(errOut, "not confirmed: nothing cancelled") {
		t.Errorf("cancel not confirmed: exit %d, stdout %q, stderr %q; want 1 and nothing cancelled", code, out, errOut)
	}
	if r, _, _ := store.Get(ctx, "globex", "held-1"); r.State != record.StateHeld || !r.CancelRequested.IsZero() {
		t.Fatalf("held-1 after a cancel not confirmed: %s, cancel requested %s; want held, untouched", r.State, r.CancelRequested)
	}

	out, errOut, code := runCLI(t, "cancel", "--yes", "-o", "json", "--tenant", "globex", "held-1", "nobody")
	var rep []cancellation
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || len(rep) != 2 ||
		rep[0].Submission != "held-1" || rep[0].Outcome != consumer.CancelDone || rep[1].Outcome != consumer.CancelUnknown {
		t.Fatalf("cancel held-1 nobody: exit %d, stdout %s, stderr %q (%v); want 1, held-1 cancelled, nobody unknown", code, out, errOut, err)
	}
	waitRecord("globex", "held-1", cancelled)
	if out, errOut, code := runCLI(t, "status", "-o", "table", "--tenant", "globex", "held-1"); code != 0 || !strings.Contains(out, "cancelled_by_operator") ||
		!strings.Contains(out, "by an operator (iseed cancel), before it was sent: never sent") {
		t.Errorf("status of the cancelled held-1: exit %d, stdout %q, stderr %q; want its reason and when it was cancelled", code, out, errOut)
	}

	// held-1's key may still be there (the daemon removes it at its next
	// holds pass): it is said to be cancelled already.
	out, errOut, code = runCLI(t, "cancel", "--yes", "-o", "table", "--tenant", "globex", "--all-held")
	if code != 0 || !strings.Contains(out, "globex/held-2: cancelled") || !strings.Contains(out, "globex/held-3: cancelled") {
		t.Fatalf("cancel --all-held: exit %d, stdout %q, stderr %q; want 0, held-2 and held-3 cancelled", code, out, errOut)
	}
	waitRecord("globex", "held-2", cancelled)
	waitRecord("globex", "held-3", cancelled)
	// Run again: nothing held; the keys the daemon has not removed yet
	// (at its next holds pass) are said to be cancelled already.
	if out, errOut, code := runCLI(t, "cancel", "--yes", "-o", "table", "--tenant", "globex", "--all-held"); code != 0 ||
		!strings.Contains(errOut, "no held submission") && (strings.Count(out, "cancelled: cancelled already") != strings.Count(out, "\n") || out == "") {
		t.Errorf("cancel --all-held, nothing held: exit %d, stdout %q, stderr %q; want 0, nothing to cancel", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "cancel", "--yes", "-o", "table", "--tenant", "acme", "sent-1"); code != 1 || out != "" ||
		!strings.Contains(errOut, "acme/sent-1: not cancelled (") || !strings.Contains(errOut, "sent already") {
		t.Errorf("cancel a sent submission: exit %d, stdout %q, stderr %q; want 1, not cancelled", code, out, errOut)
	}
	for _, args := range [][]string{{"--tenant", "globex"}, {"--tenant", "globex", "--all-held", "held-1"}, {"held-1"}} {
		if _, _, code := runCLI(t, append([]string{"cancel", "--yes"}, args...)...); code != 2 {
			t.Errorf("cancel %v: exit %d, want 2", args, code)
		}
	}
	if got := d.sim.sim.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests: %d, want sent-1's alone", got)
	}
	rep2, errOut, code := runErase(t, "", "--tenant", "globex", "held-1")
	if x := outcomes(rep2)["held-1"]; code != 0 || x.Outcome != erased {
		t.Errorf("erase the cancelled held-1: exit %d, %+v, stderr %q; want erased", code, x, errOut)
	}
}
