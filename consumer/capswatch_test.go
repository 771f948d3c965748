package consumer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestHoldsCapsWatchThatCannotBeginPokesNoFasterThanHoldPoll: the caps
// bucket is deleted and not made again yet (an iseed start makes it). The
// holds follower's caps watch cannot begin, and is tried again; each try
// pokes a holds pass, so that a cap set before the watch began is seen.
// It was tried, and poked a pass, every second for as long as the bucket
// was gone: a pass over every tenant's holds each second, where passes
// otherwise come every HoldPoll. Now the tries back off to HoldPoll.
func TestHoldsCapsWatchThatCannotBeginPokesNoFasterThanHoldPoll(t *testing.T) {
	t.Parallel() // its own server; it waits out two HoldPolls (3 s); contention only slows the pokes it bounds from below
	s := natstest.Run(t)
	s.KeepStreamsDir(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	caps, usage, err := budget.EnsureBuckets(ctx, s.JS, "iseed_budgets", "iseed_usage", 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	b, err := budget.New(caps, usage, budget.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.JS.DeleteKeyValue(ctx, "iseed_budgets"); err != nil {
		t.Fatal(err)
	}
	const holdPoll = 3 * time.Second
	p := &Pipeline{cfg: Config{HoldPoll: holdPoll, Now: time.Now}, log: zerolog.Nop(), rare: zerolog.Nop()}
	poke := make(chan struct{}, 1)
	start := time.Now()
	wg.Go(func() { p.watchCaps(ctx, b, poke) })
	for i := range 3 {
		select {
		case <-poke:
		case <-time.After(30 * time.Second):
			t.Fatalf("poke %d: none within 30 s", i+1)
		}
	}
	if took := time.Since(start); took < 2*holdPoll {
		t.Errorf("3 pokes (holds passes) in %s while the caps watch cannot begin; want them no faster than HoldPoll (%s), at least %s", took.Round(time.Millisecond), holdPoll, 2*holdPoll)
	}
}
