package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestWithdrawSubmissions is a producer withdrawing what it published,
// with iseed withdraw on a daemon: a submission a spending cap holds is
// failed withdrawn, never sent; a sent one is refused (too late) and an
// unknown id too, exit 1, the sent one left as it is; without --wait the
// command only publishes.
func TestWithdrawSubmissions(t *testing.T) {
	cliEnv(t)
	t.Setenv("ISEED_WITHDRAW_WAIT", "2s") // the unknown id's refusal below
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := startWalkDaemon(t, cfg, &pipetest.Buffer{})
	ctx := context.Background()
	store := record.NewStore(d.res.Records)
	waitRecord := recordWaiter(t, d.res, 30*time.Second)
	withdrawn := func(r *record.Record) bool {
		return r.State == record.StateFailed && r.Reason == dlq.ReasonWithdrawn && r.RequestID == "" && r.CancelledBy == record.CancelledByTenant
	}
	if _, errOut, code := runCLI(t, "budget", "set", "--tenant", "globex", "--monthly-eur", "1"); code != 0 {
		t.Fatalf("budget set: exit %d, %s", code, errOut)
	}
	waitUntil(t, 20*time.Second, "the daemon to have globex's cap", func() bool { return d.pipeline.CapsApply("globex") })
	for _, id := range []string{"held-1", "held-2"} {
		if out, errOut, code := runCLI(t, "submit", "--tenant", "globex", eventFile(t, id, nil)); code != 0 {
			t.Fatalf("submit %s: exit %d, %s %s", id, code, out, errOut)
		}
		waitRecord("globex", id, func(r *record.Record) bool { return r.State == record.StateHeld })
	}
	if out, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "sent-1", nil)); code != 0 {
		t.Fatalf("submit sent-1: exit %d, %s %s", code, out, errOut)
	}
	waitRecord("acme", "sent-1", func(r *record.Record) bool { return r.RequestID != "" })

	if out, errOut, code := runCLI(t, "withdraw", "--wait", "--tenant", "globex", "held-1"); code != 0 ||
		!strings.Contains(out, "globex/held-1: withdrawn (withdrawn, by its producer (a withdrawal)): never sent") {
		t.Fatalf("withdraw --wait held-1: exit %d, stdout %q, stderr %q; want 0, withdrawn", code, out, errOut)
	}
	waitRecord("globex", "held-1", withdrawn)
	if out, errOut, code := runCLI(t, "status", "-o", "table", "--tenant", "globex", "held-1"); code != 0 || !strings.Contains(out, "by its producer (a withdrawal), before it was sent: never sent") {
		t.Errorf("status of the withdrawn held-1: exit %d, stdout %q, stderr %q; want who withdrew it", code, out, errOut)
	}

	if out, errOut, code := runCLI(t, "withdraw", "--tenant", "globex", "held-2"); code != 0 || out != "globex/held-2: withdrawal published\n" {
		t.Errorf("withdraw held-2: exit %d, stdout %q, stderr %q; want 0, published", code, out, errOut)
	}
	waitRecord("globex", "held-2", withdrawn)

	if out, errOut, code := runCLI(t, "withdraw", "--wait", "--tenant", "acme", "sent-1"); code != 1 || out != "" ||
		!strings.Contains(errOut, "acme/sent-1: withdrawal refused (too_late): too late: sent already") {
		t.Errorf("withdraw a sent submission: exit %d, stdout %q, stderr %q; want 1, refused too late", code, out, errOut)
	}
	if r, _, _ := store.Get(ctx, "acme", "sent-1"); r.RequestID == "" || !r.CancelRequested.IsZero() {
		t.Errorf("sent-1 after its withdrawal: %+v; want it left as it was", r)
	}
	if _, errOut, code := runCLI(t, "withdraw", "--wait", "--tenant", "acme", "nobody"); code != 1 || !strings.Contains(errOut, "acme/nobody: withdrawal refused (unknown)") {
		t.Errorf("withdraw an unknown id: exit %d, stderr %q; want 1, refused unknown", code, errOut)
	}
	for _, args := range [][]string{{"--tenant", "globex"}, {"held-1"}, {"--tenant", "globex", "bad id"}, {"--tenant", "globex", "--wait", "--timeout", "0s", "held-1"}} {
		if _, _, code := runCLI(t, append([]string{"withdraw"}, args...)...); code != 2 {
			t.Errorf("withdraw %v: exit %d, want 2", args, code)
		}
	}
	if got := d.sim.sim.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests: %d, want sent-1's alone", got)
	}
}

// TestDLQReplayOfAWithdrawnFailedSubmission: a submission the upstream
// refused (412: failed upstream_rejected, nothing created) is withdrawn by
// its producer with iseed withdraw, which is taken, not refused. The
// operator's iseed dlq replay of its dead letter, by sequence or by
// reason, is then refused as a withdrawn letter's is, nothing POSTed, the
// letter kept; with --tenant-asked it is sent.
func TestDLQReplayOfAWithdrawnFailedSubmission(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}})
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "wf-1", nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	seq := fmt.Sprint(waitDeadLetters(t, 1)["wf-1"].Seq)
	d.sim.sim.SetFaults(sim.Faults{})
	posts := d.sim.sim.Counters()["POST /richiesta"]

	if out, errOut, code := runCLI(t, "withdraw", "--wait", "--tenant", "acme", "wf-1"); code != 0 ||
		!strings.Contains(out, "acme/wf-1: withdrawn after it was failed (upstream_rejected): never sent, nor replayed unless the tenant asks") {
		t.Fatalf("withdraw --wait wf-1: exit %d, stdout %q, stderr %q; want 0, withdrawn", code, out, errOut)
	}
	for _, args := range [][]string{{seq}, {"--reason", "upstream_rejected"}} {
		out, errOut, code := runCLI(t, append([]string{"dlq", "replay"}, args...)...)
		if code != 1 || !strings.Contains(errOut, "its producer withdrew the submission") || !strings.Contains(errOut, "iseed dlq replay --tenant-asked "+seq) {
			t.Errorf("dlq replay %v: exit %d, stdout %q, stderr %q; want 1, refused: its producer withdrew it", args, code, out, errOut)
		}
	}
	if got := d.sim.sim.Counters()["POST /richiesta"]; got != posts {
		t.Errorf("POSTs after the refused replays: %d, want %d", got, posts)
	}
	if left := deadLetters(t); len(left) != 1 {
		t.Errorf("dead letters after the refused replays: %v; want wf-1's, kept", left)
	}

	if out, errOut, code := runCLI(t, "dlq", "replay", "--tenant-asked", seq); code != 0 || !strings.Contains(out, "replayed dead letter "+seq) {
		t.Fatalf("dlq replay --tenant-asked: exit %d, stdout %q, stderr %q; want 0, replayed", code, out, errOut)
	}
	if r := waitSubmitted(t, d, "wf-1"); !r.CancelRequested.IsZero() {
		t.Errorf("wf-1 sent after all, still marked withdrawn at %s", r.CancelRequested)
	}
	if got := d.sim.sim.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests: %d, want 1", got)
	}
}

// TestWithdrawWaitOutlastsTheUnknownRefusal: without --timeout, withdraw
// --wait follows a withdrawal longer than the pipeline waits before it
// refuses one unknown (ISEED_WITHDRAW_WAIT, then a look every few
// seconds), so that the refusal is seen (exit 1), not a time-out (exit 3);
// its default was a minute, ISEED_WITHDRAW_WAIT's too, and a withdrawal of
// an id iseed never received always timed out. A --timeout given is kept.
func TestWithdrawWaitOutlastsTheUnknownRefusal(t *testing.T) {
	for _, wait := range []string{"", "1m", "5m"} {
		t.Setenv("ISEED_WITHDRAW_WAIT", wait)
		if wait == "" {
			os.Unsetenv("ISEED_WITHDRAW_WAIT")
		}
		cfg, err := loadConfig()
		if err != nil {
			t.Fatal(err)
		}
		// The pipeline looks again at most every 5s (consumer.withdrawRecheck):
		// the refusal comes within ISEED_WITHDRAW_WAIT and that, and a delivery.
		if got, least := withdrawTimeout(0, cfg), cfg.WithdrawWait+30*time.Second; got < least {
			t.Errorf("ISEED_WITHDRAW_WAIT=%s: withdraw --wait waits %s without --timeout; want at least %s", cfg.WithdrawWait, got, least)
		}
		if got := withdrawTimeout(90*time.Second, cfg); got != 90*time.Second {
			t.Errorf("withdraw --wait --timeout 90s waits %s; want 90s", got)
		}
	}
}
