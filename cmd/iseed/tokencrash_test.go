package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go/jetstream"
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
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	srv := natstest.Run(t)
	s := sim.New(sim.Config{Token: "crash-token", Step: time.Hour})
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	const n = 4
	env := []string{
		"ISEED_NATS_URL=" + srv.ClientURL(), "ISEED_VISENGINE_URL=" + hs.URL, "ISEED_VISENGINE_TOKEN=crash-token",
		"ISEED_ACK_WAIT=2s", fmt.Sprintf("ISEED_WORKERS=%d", n), "ISEED_HTTP_LISTEN=127.0.0.1:0", "ISEED_CALLBACK_LISTEN=127.0.0.1:0",
		"ISEED_RECONCILE_SETTLE=1h",
	}
	// A budget of a few tokens, then one every 1,000 seconds: the workers
	// that claim a submission once the first tokens are spent wait.
	first := startDaemon(t, append(env, "ISEED_UPSTREAM_RPS=0.001", "ISEED_UPSTREAM_BURST=4", "ISEED_UPSTREAM_RESERVE=1")...)
	ctx := context.Background()
	var records jetstream.KeyValue
	waitUntil(t, 30*time.Second, "the daemon to create the layout", func() bool {
		_, err := srv.JS.Stream(ctx, "ISEED_SUBMISSIONS")
		if err == nil {
			records, err = srv.JS.KeyValue(ctx, "iseed_submissions")
		}
		return err == nil
	})
	event, err := os.ReadFile("../../examples/isee.json")
	if err != nil {
		t.Fatal(err)
	}
	var sub map[string]any
	if err := json.Unmarshal(event, &sub); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("emp-token-%d", i)
		sub["id"] = ids[i]
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
	waiting := func() (claimed int) {
		for _, id := range ids {
			if r := get(id); r.State == record.StateClaimed && r.Pending != nil {
				claimed++
			}
		}
		return claimed
	}
	// Every submission claimed or sent, and at least two waiting: the
	// budget cannot grant another token for 1,000 seconds.
	waitUntil(t, 30*time.Second, "workers waiting for tokens", func() bool {
		return waiting()+s.Counters()["created"] == n && waiting() >= 2
	})
	sent := s.Counters()["POST /richiesta"]
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
	if got := s.Counters()["created"]; got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
	if got := s.Counters()["POST /richiesta"]; got != n {
		t.Errorf("POST /richiesta calls: got %d, want %d (%d before the kill)", got, n, sent)
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
