package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
)

// TestFairShareAcrossDaemons: two `iseed serve` processes on one durable
// consumer and an upstream budget of 20 calls a second. One tenant
// publishes a batch of 120, another tenant three submissions after it: the
// other tenant's three are sent while most of the batch still waits (held,
// fair_share), not after the whole batch (6 s at that budget). Then one
// daemon is killed (SIGKILL) with the batch's held submissions being
// released, and another started: every submission is sent once, and no
// daemon warns of what is routine between replicas (another removing a
// released hold's key first).
//
// Each POST takes 150 ms, so the kill usually lands while one is
// unanswered. The batch's submissions are alike (one tax code), and only a
// POST's marker tells their requests apart: callbacks are on, and such a
// request is adopted by its marker (without them it is dead-lettered as
// ambiguous, TestCrashBetweenAnswerAndRecord). Now and then the kill lands
// after a worker's lease said its POST was going out and before the
// upstream created anything: reconciliation finds no request, and the
// submission is sent again, its second attempt (Attempts counts the POSTs
// tried) and its only request.
func TestFairShareAcrossDaemons(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	callbacks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(callbacks.Close)
	srv := natstest.Run(t)
	s, _, env := simFor(t, srv, sim.Config{Token: "fair-token", Step: time.Hour, Wallet: 1e7, Profile: pipetest.Profile(t),
		Faults: sim.Faults{Latency: 150 * time.Millisecond}})
	env = append(env, "ISEED_WORKERS=8", "ISEED_UPSTREAM_RPS=20", "ISEED_UPSTREAM_BURST=3", "ISEED_LOG_LEVEL=warn",
		"ISEED_ACK_WAIT=2s",                                                                    // the killed daemon's messages come back within seconds
		"ISEED_PUBLIC_URL="+callbacks.URL, "ISEED_RECONCILE_SETTLE=1s", "ISEED_ADOPT_GRACE=2s") // a POST cut short by the kill settles at once
	first := startDaemon(t, env...)
	second := startDaemon(t, env...)
	ctx := context.Background()
	records := awaitLayout(t, srv)
	publish := func(tenant, id string) {
		body, _ := iseeEvent(id, "Nome "+id)
		if _, err := srv.JS.PublishMsgAsync(&nats.Msg{Subject: "iseed.submissions." + tenant, Data: body}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 120
	for i := range n {
		publish("acme", fmt.Sprintf("batch-%d", i))
	}
	others := []string{"other-1", "other-2", "other-3"}
	for _, id := range others {
		publish("globex", id)
	}
	<-srv.JS.PublishAsyncComplete()
	get := func(tenant, id string) record.Record {
		var r record.Record
		if e, err := records.Get(ctx, tenant+"."+id); err == nil {
			_ = json.Unmarshal(e.Value(), &r)
		}
		return r
	}
	waitUntil(t, time.Minute, "the other tenant's three sent", func() bool {
		for _, id := range others {
			if get("globex", id).RequestID == "" {
				return false
			}
		}
		return true
	})
	sent := s.Counters()["created"] - len(others)
	t.Logf("%d of the batch sent before the other tenant's three", sent)
	// The budget's tokens go to whichever waiting worker takes them
	// first, not in turn: the three get about their tenant's share of the
	// waits, 6 to 37 of the batch before them in runs on two cores.
	if sent > n/2 {
		t.Errorf("%d of the batch's %d sent before the other tenant's three; want at most %d", sent, n, n/2)
	}

	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	third := startDaemon(t, env...)
	t.Cleanup(func() { // what a failed wait leaves: the batch's records not submitted
		if !t.Failed() {
			return
		}
		for i := range n {
			if r := get("acme", fmt.Sprintf("batch-%d", i)); r.RequestID == "" {
				pending, _ := json.Marshal(r.Pending)
				t.Logf("batch-%d: %s, %d attempts, reason %q, pending %s, timeline %+v", i, r.State, r.Attempts, r.Reason, pending, r.Timeline)
			}
		}
	})
	held := 0
	waitUntil(t, 2*time.Minute, "every submission of the batch sent", func() bool {
		held = 0
		for i := range n {
			r := get("acme", fmt.Sprintf("batch-%d", i))
			if r.Closed() {
				t.Fatalf("batch-%d: %s (%s); want it sent", i, r.State, r.Reason)
			}
			if r.RequestID == "" { // sent: submitted, or tracked on since (an adopted request is polled at once)
				return false
			}
			if !r.EnteredAt(record.StateHeld).IsZero() {
				held++
			}
		}
		return true
	})
	if held < n/2 {
		t.Errorf("%d of the batch were held for their turn; want most of it", held)
	}
	// One paid request each: as many created upstream as submissions, each
	// submission's its own.
	if got := s.Counters()["created"]; got != n+len(others) {
		t.Errorf("upstream requests: %d, want %d", got, n+len(others))
	}
	requests := map[string]string{}
	for _, id := range others {
		requests[get("globex", id).RequestID] = "globex/" + id
	}
	twice := 0
	for i := range n {
		id := fmt.Sprintf("batch-%d", i)
		r := get("acme", id)
		if other, dup := requests[r.RequestID]; dup {
			t.Errorf("%s has request %s, as %s has", id, r.RequestID, other)
		}
		requests[r.RequestID] = id
		switch r.Attempts {
		case 1:
		case 2: // its first POST cut short by the kill before the upstream created anything
			twice++
		default:
			t.Errorf("%s: %d attempts, want 1, or 2 when the kill cut its first POST short", id, r.Attempts)
		}
	}
	// The killed daemon had at most a POST in flight for each of its
	// workers: a count that every release or hold adds to would be over.
	if twice > 8 {
		t.Errorf("%d of the batch tried twice; want at most 8, the killed daemon's workers", twice)
	}
	t.Logf("%d of the batch tried twice (the kill cut its first POST short before the upstream created a request); the upstream had %d POSTs for %d requests", twice, s.Counters()["POST /richiesta"], s.Counters()["created"])
	adopted := 0
	for i := range n {
		if r := get("acme", fmt.Sprintf("batch-%d", i)); slices.ContainsFunc(r.Timeline, func(tr record.Transition) bool { return tr.Note == "reconciled" }) {
			adopted++
		}
	}
	t.Logf("%d of the batch adopted after the kill", adopted)
	// Both replicas release the same holds (one message each: its id),
	// and one of them removes the hold's key: the other's finding it gone
	// is routine, not a warning (ISEED_LOG_LEVEL=warn here).
	for _, d := range []*daemonProc{first, second, third} {
		if out := d.out.String(); strings.Contains(out, "its key not removed yet") {
			t.Errorf("a daemon warned of a hold key another replica removed:\n%s", out)
		}
	}
}
