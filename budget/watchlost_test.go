package budget_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/money"
	"github.com/nats-io/nats.go/jetstream"
)

// TestFollowCapsNoticesItsConsumerLost: the watch's consumer is gone while
// the connection stays up, as when the cluster node that held it fails
// and the client is connected to another; a cap is then set where none
// was. nats.go makes the consumer again only when it has missed the
// server's heartbeats, 10 to 20 s later, and the watch delivered nothing
// meanwhile: the caps view went on saying the tenant was uncapped, and its
// submissions reserved nothing, past the cap just set. Now the watch stops
// (an error: its caller knows nothing until a new watch has read the
// bucket) when an entry stored since it began stays undelivered.
func TestFollowCapsNoticesItsConsumerLost(t *testing.T) {
	s, caps := watchedCaps(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	synced := make(chan struct{})
	var events []budget.CapsEvent // on the watch's goroutine until done
	done := make(chan error, 1)
	go func() {
		done <- budget.FollowCapsEvery(ctx, caps, false, 200*time.Millisecond, func(e budget.CapsEvent) {
			events = append(events, e)
			if e.Synced {
				close(synced)
			}
		})
	}()
	select {
	case <-synced:
	case err := <-done:
		t.Fatalf("the watch ended before its first pass: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no first pass of the caps after 10s")
	}

	s.LoseConsumer(t, "KV_iseed_budgets")
	capped, _ := json.Marshal(budget.Caps{DailyEUR: 1})
	if _, err := caps.Put(ctx, "tenant.acme", capped); err != nil {
		t.Fatal(err)
	}
	set := time.Now()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the watch ended without an error, its caller would take it for done")
		}
		t.Logf("the watch stopped %s after the cap was set: %v", time.Since(set).Round(time.Millisecond), err)
	case <-time.After(8 * time.Second):
		cancel()
		<-done
		t.Fatalf("the watch, its consumer lost, went on for 8s after a cap was set (events %d, the last %+v); want it stopped within the check and a second",
			len(events), events[len(events)-1])
	}
}

// TestFollowCapsKeepsAWatchThatKeepsUp: checked often, a watch that
// delivers what is stored is never taken for lost.
func TestFollowCapsKeepsAWatchThatKeepsUp(t *testing.T) {
	_, caps := watchedCaps(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan budget.CapsEvent, 64)
	done := make(chan error, 1)
	go func() {
		done <- budget.FollowCapsEvery(ctx, caps, true, 50*time.Millisecond, func(e budget.CapsEvent) { got <- e })
	}()
	if e := <-got; !e.Synced {
		t.Fatalf("first event %+v, want the marker", e)
	}
	for i := range 20 {
		capped, _ := json.Marshal(budget.Caps{DailyEUR: money.Cents(i + 1)})
		if _, err := caps.Put(ctx, "tenant.acme", capped); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			if e.Caps.DailyEUR != money.Cents(i+1) {
				t.Fatalf("event %+v, want the cap of %d", e, i+1)
			}
		case err := <-done:
			t.Fatalf("the watch stopped though it kept up: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("cap %d not delivered", i+1)
		}
	}
	// What is stored is delivered: no check, nor the second after it,
	// takes the watch for lost (an absence, so a bounded look).
	select {
	case err := <-done:
		t.Fatalf("the watch stopped though it kept up: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
}

// watchedCaps is a server of the test's own with the caps bucket.
func watchedCaps(t *testing.T) (*natstest.Server, jetstream.KeyValue) {
	t.Helper()
	s := natstest.Run(t)
	caps, _, err := budget.EnsureBuckets(t.Context(), s.JS, "iseed_budgets", "iseed_usage", 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	return s, caps
}
