package tracking

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// laggingRead is kv read through a replica that misses every key.
func laggingRead(kv jetstream.KeyValue) jetstream.KeyValue {
	l := natstest.NewLaggingKV(kv)
	l.LagAll()
	return l
}

// TestPriorISEEAskedOfTheLeader: a person with a completed ISEE, whose
// history entry a lagging replica misses, still has one when History asks
// the leader (as iseed serve's does); a person without one has none.
// Without the leader, the lagging read's word stands.
func TestPriorISEEAskedOfTheLeader(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "iseed_isee_history"})
	if err != nil {
		t.Fatal(err)
	}
	lagging, err := NewHistory(laggingRead(kv), nil, bytes.Repeat([]byte("k"), 32), DefaultServices())
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHistory(laggingRead(kv), srv.JS, bytes.Repeat([]byte("k"), 32), DefaultServices())
	if err != nil {
		t.Fatal(err)
	}
	known, unknown := h.TaxCodeKey("acme", "RSSMRA80A01H501U"), h.TaxCodeKey("acme", "VRDLGU80A01H501X")
	if err := h.note(ctx, known, time.Now()); err != nil {
		t.Fatal(err)
	}
	if has, err := lagging.has(ctx, known); err != nil || has {
		t.Fatalf("without the leader, a lagging read: got %v, %v; want false (the lag's word)", has, err)
	}
	if has, err := h.has(ctx, known); err != nil || !has {
		t.Errorf("asked of the leader, a person with an ISEE: got %v, %v; want true", has, err)
	}
	if has, err := h.has(ctx, unknown); err != nil || has {
		t.Errorf("asked of the leader, a person without one: got %v, %v; want false", has, err)
	}
}
