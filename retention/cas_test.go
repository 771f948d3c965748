package retention

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestConcurrentChangeWins: a record changed between the pass's read and
// its write (here a replay reopening it) keeps the change: the scrub's
// compare-and-set on the revision read loses, and writes nothing.
func TestConcurrentChangeWins(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	store := record.NewStore(res.Records)
	now := time.Now()
	rec := &record.Record{Tenant: "acme", ID: "emp-1", Fingerprint: "fp", Generation: 1, State: record.StateFailed,
		Reason: "upstream_rejected", Metadata: json.RawMessage(`{"employee":"Mario Rossi"}`), PersonKey: "pk", Created: now, Updated: now}
	rev, err := store.Create(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{After: time.Hour, Logger: zerolog.Nop()}, Deps{JS: srv.JS, Records: res.Records, Keys: res.Keys})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := srv.JS.Stream(ctx, streamOf(res.Records))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}

	reopened := rec.Clone() // what a replay writes meanwhile
	reopened.Generation, reopened.Reason = 2, ""
	reopened.To(record.StateClaimed, now, "replay of dead letter 7")
	reopened.AddReplay(7, now)
	if _, err := store.Update(ctx, reopened, rev); err != nil {
		t.Fatal(err)
	}

	p := &pass{s: s, cutoff: now.Add(time.Hour)}
	if err := p.entry(ctx, m, rev); err != nil {
		t.Fatalf("entry: %v, want the lost compare-and-set counted, not an error", err)
	}
	if want := (Result{Read: 1, Changed: 1}); p.res != want {
		t.Errorf("pass: got %+v, want %+v", p.res, want)
	}
	got, _, err := store.Get(ctx, "acme", "emp-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != record.StateClaimed || got.Generation != 2 || got.PersonKey != "pk" || len(got.Metadata) == 0 || !got.Scrubbed.IsZero() {
		t.Errorf("record: state %s, generation %d, person key %q, metadata %s, scrubbed %v; want the reopened record untouched",
			got.State, got.Generation, got.PersonKey, got.Metadata, got.Scrubbed)
	}
}
