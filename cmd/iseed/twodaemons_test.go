package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
)

// TestTwoDaemonProcessesThousandSubmissions runs two `iseed serve`
// processes on one durable consumer: 1,000 submissions (and duplicates of
// some) make exactly 1,000 upstream requests, one per submission.
func TestTwoDaemonProcessesThousandSubmissions(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	srv := natstest.Run(t)
	s, simURL, env := simFor(t, srv, sim.Config{Token: "two-token", Step: time.Hour, Wallet: 1e7, Profile: pipetest.Profile(t)})
	env = append(env, "ISEED_WORKERS=8", "ISEED_UPSTREAM_RPS=10000", "ISEED_UPSTREAM_BURST=100", "ISEED_LOG_LEVEL=warn")
	startDaemon(t, env...)
	startDaemon(t, env...)
	ctx := context.Background()
	awaitLayout(t, srv)
	const n = 1000
	for i := range n {
		body, _ := iseeEvent(fmt.Sprintf("two-%d", i), fmt.Sprintf("Nome %d", i))
		copies := 1
		if i%10 == 0 {
			copies = 2 // a duplicate on top, delivered to either daemon
		}
		for range copies {
			if _, err := srv.JS.PublishMsgAsync(&nats.Msg{Subject: "iseed.submissions.acme", Data: body}); err != nil {
				t.Fatal(err)
			}
		}
	}
	<-srv.JS.PublishAsyncComplete()
	cons, err := srv.JS.Consumer(ctx, "ISEED_SUBMISSIONS", "submitter")
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Minute, "every message settled", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && s.Counters()["created"] >= n
	})
	if got := s.Counters()["created"]; got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
	u, _ := url.Parse(simURL)
	c, err := visengine.New(visengine.Config{BaseURL: u, Token: "two-token"})
	if err != nil {
		t.Fatal(err)
	}
	list, err := c.Richieste(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Errorf("GET /richiesta lists %d requests, want %d", len(list), n)
	}
	records, err := srv.JS.KeyValue(ctx, "iseed_submissions")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	for i := range n {
		e, err := records.Get(ctx, fmt.Sprintf("acme.two-%d", i))
		var r record.Record
		if err != nil || json.Unmarshal(e.Value(), &r) != nil || r.RequestID == "" {
			t.Fatalf("two-%d: no upstream request recorded (%v)", i, err)
		}
		if other, dup := seen[r.RequestID]; dup {
			t.Fatalf("two-%d and %s share request %s", i, other, r.RequestID)
		}
		seen[r.RequestID] = r.ID
	}
}
