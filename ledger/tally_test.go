package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTallyFollowsTheLedger: the running total of the current period
// equals what Report says for it, for the entries stored before the Tally
// began and for those stored while it follows; when the period ends it
// starts over on the next one.
func TestTallyFollowsTheLedger(t *testing.T) {
	l, _ := newLedger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	now := time.Now().UTC().Truncate(time.Second)
	first := money.Period{From: now.Add(-time.Hour), To: time.Now().Add(3 * time.Second)}
	second := money.Period{From: now.Add(-3 * time.Hour), To: now.Add(time.Hour)}
	period := func(at time.Time) money.Period {
		if first.Contains(at) {
			return first
		}
		return second
	}
	record(t, l, entry("acme", "r1", now), entry("beta", "r2", now), entry("acme", "r3", now.Add(-2*time.Hour)))
	tally := l.NewTally(period)
	if _, _, err := tally.Total(); !errors.Is(err, ledger.ErrTallyNotReady) {
		t.Errorf("before it runs: %v, want ErrTallyNotReady", err)
	}
	done := make(chan error, 1)
	go func() { done <- tally.Run(ctx) }()
	agrees := func(step string, p money.Period, want int) {
		t.Helper()
		lines, err := l.Report(ctx, p.From, p.To, "")
		if err != nil {
			t.Fatal(err)
		}
		wn, wsum := ledger.Total(lines)
		if wn != want {
			t.Fatalf("%s: Report has %d entries, want %d", step, wn, want)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, sum, err := tally.Total()
			if err == nil && n == wn && sum == wsum {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: tally %d, %s (%v); Report %d, %s", step, n, sum, err, wn, wsum)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	agrees("stored before", first, 2) // r3 is before the period
	for i := range 3 {
		record(t, l, entry("acme", fmt.Sprintf("n%d", i), now))
	}
	agrees("stored while following", first, 5)
	// The first period ends within seconds: the next one counts r3 too.
	for first.Contains(time.Now()) {
		time.Sleep(50 * time.Millisecond)
	}
	agrees("the next period", second, 6)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestTallyFollowsALedgerMadeAnew: an operator deletes the ledger stream
// and makes it anew (an `iseed` start ensures it at once); requests are
// then entered there. The running total must be the new stream's: a
// follow of the old stream goes on after its last sequence and would
// never deliver the new stream's first entries, and would keep counting
// the old ones, gone with it.
func TestTallyFollowsALedgerMadeAnew(t *testing.T) {
	l, srv := newLedger(t)
	srv.KeepStreamsDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	t.Cleanup(func() { cancel(); <-done })
	now := time.Now().UTC().Truncate(time.Second)
	today := money.Period{From: now.Add(-time.Hour), To: now.Add(time.Hour)}
	for i := range 20 { // the old stream's sequences go past the new one's
		record(t, l, entry("acme", fmt.Sprint("old", i), now))
	}
	tally := l.NewTally(func(time.Time) money.Period { return today })
	go func() { done <- tally.Run(ctx) }()
	totals(t, tally, "the old stream", 10*time.Second, 20)

	if err := srv.JS.DeleteStream(ctx, ledger.StreamName(prefix)); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.EnsureStream(ctx, srv.JS, ledger.StreamConfig(prefix, 1, jetstream.FileStorage, 0)); err != nil {
		t.Fatal(err)
	}
	record(t, l, entry("acme", "new1", now), entry("beta", "new2", now))
	totals(t, tally, "the stream made anew", 20*time.Second, 2)
}
