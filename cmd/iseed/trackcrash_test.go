package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestKilledDuringTrackingLosesNothing kills the daemon (SIGKILL) while its
// requests are being tracked, starts another, and checks that every request
// completes, every document is stored once and matches the upstream's, and
// every state event arrives exactly once, every distinct document's once.
func TestKilledDuringTrackingLosesNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	srv := natstest.Run(t)
	s, _, env := simFor(t, srv, sim.Config{Token: "track-token", Step: 400 * time.Millisecond, Wallet: 1e6, Profile: pipetest.Profile(t)})
	env = append(env, "ISEED_POLL_SCHEDULE=150ms", "ISEED_TRACK_ACK_WAIT=2s", "ISEED_ACK_WAIT=2s",
		"ISEED_UPSTREAM_RPS=500", "ISEED_UPSTREAM_BURST=50")
	first := startDaemon(t, env...)
	ctx := context.Background()
	awaitLayout(t, srv)
	const n = 10
	for i := range n {
		body, _ := iseeEvent(fmt.Sprintf("trk-%d", i), fmt.Sprintf("Nome %d", i))
		if _, err := srv.JS.Publish(ctx, "iseed.submissions.acme", body); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // spread the requests over the lifecycle
	}
	records, err := srv.JS.KeyValue(ctx, "iseed_submissions")
	if err != nil {
		t.Fatal(err)
	}
	recordOf := func(i int) *record.Record {
		e, err := records.Get(ctx, fmt.Sprintf("acme.trk-%d", i))
		var r record.Record
		if err != nil || json.Unmarshal(e.Value(), &r) != nil {
			return nil
		}
		return &r
	}
	completed := func() int {
		c := 0
		for i := range n {
			if r := recordOf(i); r != nil && r.State == record.StateCompleted && r.Document != nil && r.Document.Stato == "Visura evasa" {
				c++
			}
		}
		return c
	}
	// Every request made and recorded (a kill between a POST and its
	// record is TestCrashBetweenAnswerAndRecord's), and tracking under way.
	waitUntil(t, 30*time.Second, "tracking under way", func() bool {
		for i := range n {
			if r := recordOf(i); r == nil || r.RequestID == "" {
				return false
			}
		}
		return s.Counters()["GET /richiesta/{id}"] >= n
	})
	if done := completed(); done == n {
		t.Fatal("every request finished before the kill: the test proves nothing")
	}
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()

	startDaemon(t, env...)
	waitUntil(t, 60*time.Second, "every request to complete with its final document", func() bool { return completed() == n })

	docs, err := srv.JS.ObjectStore(ctx, "iseed_documents_acme")
	if err != nil {
		t.Fatal(err)
	}
	objects, err := docs.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	announced := map[string]bool{}
	for i := range n {
		r := recordOf(i)
		_, content, ok := s.Document(r.RequestID)
		sum := sha256.Sum256(content)
		if !ok || r.Document.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("trk-%d: stored digest %s does not match the upstream's document", i, r.Document.SHA256)
		}
		for _, d := range checkEventsOnce(t, srv, r) {
			announced[d.Object] = true
		}
	}
	// Every announced document is stored, and nothing else but, for a
	// submission the kill caught between storing a document and announcing
	// it, that earlier document, when the upstream had moved on to the
	// final one by the next poll (docs/tracking.md, step 7).
	stored := map[string]bool{}
	for _, o := range objects {
		stored[o.Name] = true
	}
	for name := range announced {
		if !stored[name] {
			t.Errorf("announced document %s is not stored", name)
		}
	}
	extra := map[string]int{}
	for name := range stored {
		if announced[name] {
			continue
		}
		owner := -1
		for i := range n {
			if r := recordOf(i); strings.HasPrefix(name, fmt.Sprintf("acme/trk-%d/", i)) && r.Document.Object != name {
				owner = i
			}
		}
		if extra[fmt.Sprint(owner)]++; owner < 0 || extra[fmt.Sprint(owner)] > 1 {
			t.Errorf("stored document %s: not announced, and not one earlier document of a submission (stored %v, announced %v)", name, stored, announced)
		}
		t.Logf("stored, not announced: %s (the kill came between its store and its announcement)", name)
	}
	if got := s.Counters()["created"]; got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
}

// checkEventsOnce requires each state event of a completed submission
// exactly once, and one document event per distinct document
// (pipetest.CheckDocuments); it returns the document events.
func checkEventsOnce(t *testing.T, srv *natstest.Server, rec *record.Record) []publisher.DocumentReady {
	t.Helper()
	l := layout.Layout{Prefix: "iseed"}
	raws, err := publisher.ReadEvents(context.Background(), srv.JS, l.EventsStream(), l.Events(), "acme", rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]publisher.Event, len(raws))
	count := map[string]int{}
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &evs[i]); err != nil {
			t.Fatal(err)
		}
		count[evs[i].Type]++
	}
	for _, typ := range []string{"iseed.submission.submitted", "iseed.submission.in_progress", "iseed.submission.data_ready",
		"iseed.submission.completed"} {
		if count[typ] != 1 {
			t.Errorf("%s: %d %s events, want 1 (all: %v)", rec.ID, count[typ], typ, count)
		}
	}
	return pipetest.CheckDocuments(t, evs, rec)
}
