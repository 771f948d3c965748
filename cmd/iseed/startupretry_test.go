package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestServeRetriesNotingTheReplayKeyID: the write of the replay key's id,
// a start-up step, gets no answer the first time (a JetStream leader
// election, a server restarting): serve must try again, as it does every
// start-up step, not exit.
func TestServeRetriesNotingTheReplayKeyID(t *testing.T) {
	serveLosingTheFirstWrite(t, "the replay key's id", func(subject string) bool { return subject == "$KV.iseed_keys."+replayKeyIDName })
}

// TestServeRetriesApplyingTheBudgetsFile: the same for the caps
// ISEED_BUDGETS_FILE sets at start.
func TestServeRetriesApplyingTheBudgetsFile(t *testing.T) {
	t.Setenv("ISEED_BUDGETS_FILE", "testdata/budgets.json")
	serveLosingTheFirstWrite(t, "the budgets file's caps", func(subject string) bool { return strings.HasPrefix(subject, "$KV.iseed_budgets.") })
}

// serveLosingTheFirstWrite runs serve through a proxy that drops the first
// write whose subject is named by matches, and wants serve to start all
// the same and stop cleanly on a signal.
func serveLosingTheFirstWrite(t *testing.T, what string, matches func(subject string) bool) {
	t.Helper()
	var writes atomic.Int64
	s := startServeThrough(t, func(subject string) bool { return matches(subject) && writes.Add(1) == 1 })
	done, stderr := s.done, s.stderr
	deadline := time.After(60 * time.Second)
	for !strings.Contains(stderr.String(), "iseed started") {
		select {
		case err := <-done:
			t.Fatalf("serve exited when the write of %s got no answer: exit %d (%v); want it to try again and start\n%s",
				what, exitCode(err), err, stderr.String())
		case <-deadline:
			t.Fatalf("serve not started 60 s after the first try (%d writes)\n%s", writes.Load(), stderr.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
	if got := writes.Load(); got < 2 {
		t.Errorf("writes of %s: got %d, want another after the lost first", what, got)
	}
	s.stop(t)
}

// servedThrough is serve running in this process through a DropProxy.
type servedThrough struct {
	done   chan error
	stderr *pipetest.Buffer
	cancel context.CancelFunc
}

// startServeThrough runs serve on an embedded-test nats-server reached
// through a proxy that drops what drop names; stop ends it.
func startServeThrough(t *testing.T, drop func(subject string) bool) *servedThrough {
	t.Helper()
	srv := natstest.Run(t)
	proxy := natstest.NewDropProxy(t, srv.Addr().String())
	proxy.Drop = drop
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_NATS_URL", proxy.URL)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &servedThrough{done: make(chan error, 1), stderr: &pipetest.Buffer{}, cancel: cancel}
	var stdout pipetest.Buffer
	go func() { s.done <- run(ctx, []string{"serve"}, strings.NewReader(""), &stdout, s.stderr) }()
	return s
}

// stop signals serve (what SIGTERM does) and wants exit 0.
func (s *servedThrough) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		if code := exitCode(err); code != 0 {
			t.Errorf("exit %d (%v) on a signal; want 0", code, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after the signal")
	}
}
