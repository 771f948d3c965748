package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/ratelimit"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestCrashWhileWaitingForTokens kills the daemon (SIGKILL) while its
// workers wait for upstream tokens, a backlog queued behind a spent
// budget, and starts another: every submission is sent once, at once,
// without reconciling. Before the claim's lease said Unsent, each waiting
// worker's claim looked like an unanswered POST: the next daemon waited
// ISEED_RECONCILE_SETTLE (15 minutes by default, an hour here) before
// sending it, or dead-lettered it ambiguous when another request of the
// service showed meanwhile.
func TestCrashWhileWaitingForTokens(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	srv := natstest.Run(t)
	s, _, env := simFor(t, srv, sim.Config{Token: "crash-token", Step: time.Hour})
	// n submissions of one tenant all wait for their tokens: its fair
	// share is half the workers (consumer.md), so twice as many workers.
	const n = 4
	env = append(env, "ISEED_ACK_WAIT=2s", fmt.Sprintf("ISEED_WORKERS=%d", 2*n), "ISEED_RECONCILE_SETTLE=1h")
	// A budget of a few tokens, then one every 1,000 seconds.
	budget := ratelimit.Config{Rate: 0.001, Burst: 4, Reserve: 1}
	first := startDaemon(t, append(env, "ISEED_UPSTREAM_RPS=0.001", "ISEED_UPSTREAM_BURST=4", "ISEED_UPSTREAM_RESERVE=1")...)
	ctx := context.Background()
	records := awaitLayout(t, srv)
	event, err := os.ReadFile("../../examples/isee.json")
	if err != nil {
		t.Fatal(err)
	}
	var sub map[string]any
	if err := json.Unmarshal(event, &sub); err != nil {
		t.Fatal(err)
	}
	publish := func(id string) {
		sub["id"] = id
		b, _ := json.Marshal(sub)
		if _, err := srv.JS.Publish(ctx, "iseed.submissions.acme", b); err != nil {
			t.Fatal(err)
		}
	}
	get := func(id string) record.Record {
		var rec record.Record
		if e, err := records.Get(ctx, "acme."+id); err == nil {
			_ = json.Unmarshal(e.Value(), &rec)
		}
		return rec
	}
	// A first submission is sent while the budget has tokens: the service's
	// schema is cached then. The test then spends what is left of the
	// budget itself, so that every later submission waits for a token.
	publish("emp-token-warm")
	waitUntil(t, 30*time.Second, "the first submission sent", func() bool { return get("emp-token-warm").State == record.StateSubmitted })
	kv, err := srv.JS.KeyValue(ctx, "iseed_ratelimit")
	if err != nil {
		t.Fatal(err)
	}
	spender, err := ratelimit.New(kv, "upstream", budget)
	if err != nil {
		t.Fatal(err)
	}
	for spent := false; !spent; {
		wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		spent = spender.Wait(wctx, ratelimit.Submission) != nil
		cancel()
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("emp-token-%d", i)
		publish(ids[i])
	}
	waitUntil(t, 30*time.Second, "every worker waiting for a token", func() bool {
		for _, id := range ids {
			if r := get(id); r.State != record.StateClaimed || r.Pending == nil {
				return false
			}
		}
		return true
	})
	ids = append(ids, "emp-token-warm")
	if sent := s.Counters()["POST /richiesta"]; sent != 1 {
		t.Fatalf("POST /richiesta calls before the kill: %d, want 1 (the first submission's): the others must be waiting for tokens", sent)
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	startDaemon(t, append(env, "ISEED_UPSTREAM_RPS=0")...)
	waitUntil(t, 60*time.Second, "every submission sent", func() bool {
		for _, id := range ids {
			if get(id).State != record.StateSubmitted {
				return false
			}
		}
		return true
	})
	if got := s.Counters()["created"]; got != n+1 {
		t.Errorf("upstream requests: got %d, want %d", got, n+1)
	}
	if got := s.Counters()["POST /richiesta"]; got != n+1 {
		t.Errorf("POST /richiesta calls: got %d, want %d", got, n+1)
	}
	if got := s.Counters()["GET /richiesta"]; got != 0 {
		t.Errorf("reconciliation reads: got %d, want 0: the waiting workers had sent nothing", got)
	}
	for _, id := range ids {
		if r := get(id); r.Attempts != 1 {
			t.Errorf("%s: %d attempts, want 1", id, r.Attempts)
		}
	}
}
