package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTallyGoesOnWhenItsNodeFails: in a three-node cluster the node that
// holds the Tally's consumer (an ordered consumer: one replica, on one
// node) fails while the Tally's connection, to another node, stays up; an
// entry is then stored. nats.go makes an ordered pull consumer again when
// it has missed two of its heartbeats (5 s each), from the entry after the
// last it delivered: "spent today" is then about ten seconds late, never
// wrong, and the Tally needs no check of its own. (The caps view does: a
// cap it saw late would let submissions past it.)
func TestTallyGoesOnWhenItsNodeFails(t *testing.T) {
	nodes := natstest.RunClusterNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The Tally's connection is to n1 alone; the rest goes through one
	// that may reach any node.
	_, js := natstest.Connect(t, nodes[0].ClientURL())
	_, any := natstest.Connect(t, nodes[0].ClientURL()+","+nodes[1].ClientURL()+","+nodes[2].ClientURL())
	var st jetstream.Stream
	natstest.Retry(t, "the ledger stream", 5*time.Second, func(ctx context.Context) (err error) {
		st, err = ledger.EnsureStream(ctx, any, ledger.StreamConfig(prefix, 3, jetstream.FileStorage, 0))
		return err
	})
	l := ledger.New(js, st, ledger.Config{Prefix: prefix})
	writer := ledger.New(any, st, ledger.Config{Prefix: prefix})
	now := time.Now().UTC().Truncate(time.Second)
	today := money.Period{From: now.Add(-time.Hour), To: now.Add(time.Hour)}
	record(t, writer, entry("acme", "r1", now))

	var tally *ledger.Tally
	holder, stop := natstest.ConsumerAwayFrom(t, any, ledger.StreamName(prefix), nodes[0].Name(), func() func() {
		tally = l.NewTally(func(time.Time) money.Period { return today })
		run, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- tally.Run(run) }()
		totals(t, tally, "before", 10*time.Second, 1)
		return func() { stop(); <-done }
	})
	defer stop()
	natstest.StopNode(nodes, holder)
	// The failed node may have led the stream too: the entry is stored
	// once another leads it.
	natstest.Retry(t, "store an entry with "+holder+" down", 2*time.Second, func(ctx context.Context) error {
		return writer.Record(ctx, entry("acme", "r2", now))
	})
	stored := time.Now()
	totals(t, tally, "after its node failed", 30*time.Second, 2)
	t.Logf("the node holding the consumer (%s) failed; the total had the next entry %s after it was stored", holder, time.Since(stored).Round(time.Millisecond))
}

// totals waits up to d for tally's total to be want entries.
func totals(t *testing.T, tally *ledger.Tally, what string, d time.Duration, want int) {
	t.Helper()
	var n int
	var err error
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if n, _, err = tally.Total(); err == nil && n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %v: got %d entries (%v), want %d", what, d, n, err, want)
		}
	}
}
