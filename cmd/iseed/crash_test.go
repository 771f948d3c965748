package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestMain lets the test binary run as the iseed command, so that crash
// tests can start real daemon subprocesses: ISEED_TEST_AS_MAIN=1 with the
// arguments in ISEED_TEST_ARGS.
func TestMain(m *testing.M) {
	if os.Getenv("ISEED_TEST_AS_MAIN") == "1" {
		os.Args = append([]string{"iseed"}, strings.Fields(os.Getenv("ISEED_TEST_ARGS"))...)
		main()
	}
	os.Exit(m.Run())
}

// daemon is an `iseed serve` subprocess.
type daemonProc struct {
	cmd *exec.Cmd
	out *simSyncBuffer
}

func startDaemon(t *testing.T, env ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append([]string{"ISEED_TEST_AS_MAIN=1", "ISEED_TEST_ARGS=serve"}, env...)...)
	d := &daemonProc{cmd: cmd, out: &simSyncBuffer{}}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("daemon output:\n%s", d.out.String())
		}
	})
	return d
}

// TestCrashBetweenAnswerAndRecord kills the daemon (SIGKILL) while the
// upstream has created and charged the request but iseed has not recorded
// it, then starts another: the submission ends with exactly one request.
func TestCrashBetweenAnswerAndRecord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	srv := natstest.Run(t)
	s := sim.New(sim.Config{Token: "crash-token", Step: time.Hour,
		Faults: sim.Faults{CommitThenFail: sim.CommitThenFail{Mode: sim.ModeHang, Next: 1}}})
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	env := []string{
		"ISEED_NATS_URL=" + srv.ClientURL(), "ISEED_VISENGINE_URL=" + hs.URL, "ISEED_VISENGINE_TOKEN=crash-token",
		"ISEED_ACK_WAIT=2s", "ISEED_WORKERS=2", "ISEED_HTTP_LISTEN=127.0.0.1:0", "ISEED_VISENGINE_TIMEOUT=60s",
		"ISEED_LOG_LEVEL=debug", "ISEED_RECONCILE_SETTLE=1s",
	}
	first := startDaemon(t, env...)

	ctx := context.Background()
	waitUntil(t, 30*time.Second, "the daemon to create the layout", func() bool {
		_, err := srv.JS.Stream(ctx, "ISEED_SUBMISSIONS")
		return err == nil
	})
	event, err := os.ReadFile("../../examples/isee.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.JS.Publish(ctx, "iseed.submissions.acme", event); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the upstream to create the request", func() bool { return s.Counters()["created"] == 1 })
	if err := first.cmd.Process.Kill(); err != nil { // the POST is still waiting for its answer
		t.Fatal(err)
	}
	_ = first.cmd.Wait()

	startDaemon(t, env...)
	records, err := srv.JS.KeyValue(ctx, "iseed_submissions")
	if err != nil {
		t.Fatal(err)
	}
	var rec record.Record
	waitUntil(t, 60*time.Second, "the submission to have its upstream request", func() bool {
		e, err := records.Get(ctx, "acme.emp-7781-isee-2026")
		return err == nil && json.Unmarshal(e.Value(), &rec) == nil && rec.RequestID != ""
	})
	if got := s.Counters()["created"]; got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
	if got := s.Counters()["POST /richiesta"]; got != 1 {
		t.Errorf("POST /richiesta calls: got %d, want 1 (the reconciliation adopts, never re-sends)", got)
	}
	if !slices.Contains(rec.Timeline, record.Transition{State: record.StateSubmitted, At: submittedAt(rec), Note: "reconciled"}) {
		t.Errorf("timeline %+v: want the request adopted by reconciliation", rec.Timeline)
	}
}

func submittedAt(r record.Record) time.Time {
	for _, tr := range r.Timeline {
		if tr.State == record.StateSubmitted {
			return tr.At
		}
	}
	return time.Time{}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
