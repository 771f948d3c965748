package budget

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

func newTestBudgets(t *testing.T) *Budgets {
	t.Helper()
	srv := natstest.Run(t)
	caps, usageKV, err := EnsureBuckets(context.Background(), srv.JS, "c", "u", 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(caps, usageKV, Config{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func queued(b *Budgets, key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q := b.queues[key]; q != nil {
		return len(q.changes)
	}
	return -1
}

func addOne(key string) func(*usage) bool {
	return func(u *usage) bool { u.add(key, hold{Cents: 100, Day: "2026-03-05"}); return true }
}

// TestCancelledChangeIsWithdrawn: a change whose caller gives up before
// any round took it is never applied, and the turn goes on.
func TestCancelledChangeIsWithdrawn(t *testing.T) {
	b := newTestBudgets(t)
	const key = "account.2026-03"
	holder := &change{fn: addOne("acme.held"), done: make(chan error, 1), turn: make(chan struct{}, 1)}
	b.enqueue(key, holder) // holds the turn, like a caller inside a round
	<-holder.turn

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.update(ctx, key, addOne("acme.cancelled")) }()
	for deadline := time.Now().Add(10 * time.Second); queued(b, key) != 2; {
		if time.Now().After(deadline) {
			t.Fatal("the change was never queued")
		}
		time.Sleep(time.Millisecond) // polling for a condition
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("update: got %v, want context.Canceled", err)
	}
	b.round(context.Background(), key)
	if err := <-holder.done; err != nil {
		t.Fatal(err)
	}
	u, _, err := b.load(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u.Held["acme.cancelled"]; ok || len(u.Held) != 1 || u.Month.Requests != 1 {
		t.Errorf("got %+v, want only the holder's change", u)
	}
	if n := queued(b, key); n != -1 {
		t.Errorf("queue left with %d changes, want none", n)
	}
}

// TestWithdrawPassesTheTurn: a caller cancelled just as it was handed the
// turn passes it to the next one waiting, or ends the queue.
func TestWithdrawPassesTheTurn(t *testing.T) {
	b := newTestBudgets(t)
	const key = "k"
	mk := func() *change { return &change{done: make(chan error, 1), turn: make(chan struct{}, 1)} }
	first, second := mk(), mk()
	b.enqueue(key, first)
	b.enqueue(key, second)
	if len(first.turn) != 1 || len(second.turn) != 0 {
		t.Fatalf("turns: got %d and %d, want 1 and 0", len(first.turn), len(second.turn))
	}
	b.withdraw(key, first)
	if len(second.turn) != 1 || queued(b, key) != 1 {
		t.Fatalf("after withdrawing the first: second has %d turns, queue %d; want 1, 1", len(second.turn), queued(b, key))
	}
	b.withdraw(key, second)
	if n := queued(b, key); n != -1 {
		t.Errorf("after withdrawing both: queue has %d, want none", n)
	}
	third := mk()
	b.enqueue(key, third)
	if len(third.turn) != 1 {
		t.Errorf("a new change after the queue ended: got %d turns, want 1", len(third.turn))
	}
}
