package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestCapsViewSeesACapInABucketMadeAnew: an operator deletes the caps
// bucket and makes it anew (an `iseed` start ensures it at once), then
// sets a cap for a tenant that had none. The view must learn of it: a
// watch of the old bucket goes on after its last revision and would never
// deliver the new bucket's first ones, and the tenant's submissions would
// keep reserving nothing, past the cap.
func TestCapsViewSeesACapInABucketMadeAnew(t *testing.T) {
	t.Parallel() // its own server; it waits out bucket.Recheck (5 s)
	s := natstest.Run(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	caps, _, err := budget.EnsureBuckets(ctx, s.JS, "iseed_budgets", "iseed_usage", 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	capped, _ := json.Marshal(budget.Caps{DailyEUR: 1})
	for i := range 20 { // the old bucket's revisions go past the new one's
		if _, err := caps.Put(ctx, fmt.Sprintf("tenant.other%d", i), capped); err != nil {
			t.Fatal(err)
		}
	}
	v := newCapsView(caps)
	wg.Go(func() { v.run(ctx, s.NC, zerolog.Nop()) })
	waitUntil(t, 5*time.Second, "the view is complete and acme uncapped", func() bool { return v.uncapped("acme") })

	if err := s.JS.DeleteKeyValue(ctx, "iseed_budgets"); err != nil {
		t.Fatal(err)
	}
	anew, _, err := budget.EnsureBuckets(ctx, s.JS, "iseed_budgets", "iseed_usage", 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anew.Put(ctx, "tenant.acme", capped); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "acme's new cap in the view (or the view not complete)", func() bool { return !v.uncapped("acme") })
	waitUntil(t, 10*time.Second, "the view complete again with acme capped", func() bool { return v.complete() && !v.uncapped("acme") })
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: got not yet, want %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
