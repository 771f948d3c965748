package main

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestSIGTERMFinishesInFlightAndLosesNothing stops a busy daemon with
// SIGTERM: it exits 0 after handing work back, and a new daemon finishes
// every submission with exactly one upstream request each.
func TestSIGTERMFinishesInFlightAndLosesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	srv := natstest.Run(t)
	s, _, env := simFor(t, srv, sim.Config{Token: "term-token", Step: time.Hour, Wallet: 1e6, Profile: pipetest.Profile(t),
		Faults: sim.Faults{Latency: 200 * time.Millisecond}})
	env = append(env, "ISEED_WORKERS=2", "ISEED_SHUTDOWN_TIMEOUT=10s", "ISEED_UPSTREAM_RPS=1000")
	first := startDaemon(t, env...)
	ctx := context.Background()
	awaitLayout(t, srv)
	const n = 20
	for i := range n {
		body, _ := iseeEvent(fmt.Sprintf("term-%d", i), fmt.Sprintf("Nome %d", i))
		if _, err := srv.JS.Publish(ctx, "iseed.submissions.acme", body); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 30*time.Second, "work in flight", func() bool { return s.Counters()["POST /richiesta"] >= 3 })
	if err := first.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("daemon exit after SIGTERM: %v, want status 0\n%s", err, first.out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon still running 20 s after SIGTERM")
	}
	if created := s.Counters()["created"]; created >= n {
		t.Fatalf("all %d submissions were done before SIGTERM; the test proves nothing", created)
	}

	startDaemon(t, env...)
	records, err := srv.JS.KeyValue(ctx, "iseed_submissions")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "every submission to have its request", func() bool {
		for i := range n {
			e, err := records.Get(ctx, fmt.Sprintf("acme.term-%d", i))
			var r record.Record
			if err != nil || json.Unmarshal(e.Value(), &r) != nil || r.RequestID == "" {
				return false
			}
		}
		return true
	})
	if got := s.Counters()["created"]; got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
}

// TestSIGTERMStartsNoPOSTAndExitsWithinTheBound stops a daemon whose one
// worker waits on a slow POST while another submission, already fetched,
// waits for it (an SRE's drill: upstream POSTs slowed past
// ISEED_SHUTDOWN_TIMEOUT). No POST may begin after SIGTERM, and the daemon
// must exit within ISEED_SHUTDOWN_TIMEOUT + shutdownMargin, the bound the
// orchestrator's grace period is sized by.
func TestSIGTERMStartsNoPOSTAndExitsWithinTheBound(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	const shutdown = 2 * time.Second
	const slow = 4 * shutdown // each upstream call, once the drill starts
	srv := natstest.Run(t)
	s, _, env := simFor(t, srv, sim.Config{Token: "term-token", Step: time.Hour, Wallet: 1e6, Profile: pipetest.Profile(t)})
	daemon := startDaemon(t, append(env, "ISEED_WORKERS=1", "ISEED_SHUTDOWN_TIMEOUT="+shutdown.String(), "ISEED_UPSTREAM_RPS=1000")...)
	ctx := context.Background()
	publish := func(i int) {
		body, _ := iseeEvent(fmt.Sprintf("bound-%d", i), fmt.Sprintf("Nome %d", i))
		if _, err := srv.JS.Publish(ctx, "iseed.submissions.acme", body); err != nil {
			t.Fatal(err)
		}
	}
	awaitLayout(t, srv)
	publish(0) // schemas cached, wallet read: from here on the worker's next call is the POST
	waitUntil(t, 30*time.Second, "the first request", func() bool { return s.Counters()["created"] >= 1 })
	s.SetFaults(sim.Faults{Latency: slow})
	for i := 1; i <= 3; i++ {
		publish(i)
	}
	cons, err := srv.JS.Consumer(ctx, "ISEED_SUBMISSIONS", "submitter")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "a slow POST in flight and another submission fetched", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && s.Counters()["POST /richiesta"] >= 2 && info.NumAckPending >= 2
	})

	posts := s.Counters()["POST /richiesta"]
	if err := daemon.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	exited := make(chan error, 1)
	go func() { exited <- daemon.cmd.Wait() }()
	const slack = 5 * time.Second // process start-up of the exit path, generous: the promise is the bound
	bound := shutdown + shutdownMargin
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("daemon exit after SIGTERM: %v, want status 0", err)
		}
		got := time.Since(start)
		t.Logf("exited %s after SIGTERM", got.Round(time.Millisecond))
		if got > bound+slack {
			t.Errorf("daemon exited %s after SIGTERM, want within ISEED_SHUTDOWN_TIMEOUT + shutdownMargin (%s) + %s", got.Round(time.Millisecond), bound, slack)
		}
	case <-time.After(bound + slack):
		t.Fatalf("daemon still running %s after SIGTERM, want an exit within ISEED_SHUTDOWN_TIMEOUT + shutdownMargin (%s)", bound+slack, bound)
	}
	if got := s.Counters()["POST /richiesta"] - posts; got != 0 {
		t.Errorf("POSTs begun after SIGTERM: got %d, want 0", got)
	}
}
