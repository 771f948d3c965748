package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestHoldsFollowABucketMadeAnew: an operator deletes the holds bucket and
// makes it anew (an `iseed` start ensures it at once); a submission is
// held there. The holds follower must see it, or it is never released: a
// watch of the old bucket goes on after its last revision and would never
// deliver the new bucket's first ones. The old bucket's keys, gone with
// it, must not stay in the view either: a tenant with one would have every
// new submission held behind it.
func TestHoldsFollowABucketMadeAnew(t *testing.T) {
	t.Parallel() // its own server; it waits out bucket.Recheck (5 s)
	s := natstest.Run(t)
	s.KeepStreamsDir(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	cfg := jetstream.KeyValueConfig{Bucket: "iseed_holds"}
	kv, err := s.JS.CreateKeyValue(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // the old bucket's revisions go past the new one's
		if _, err := kv.Put(ctx, holdKey("other", fmt.Sprint(i), time.Unix(int64(i), 0)), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	p := &Pipeline{cfg: Config{HoldPoll: time.Hour}, holds: &holdIndex{kv: kv}, log: zerolog.Nop()}
	wg.Go(func() { _ = p.RunHolds(ctx) })
	waitUntil(t, 5*time.Second, "the old bucket's 20 holds in the view", func() bool { return len(p.holds.snapshot()["other"]) == 20 })

	if err := s.JS.DeleteKeyValue(ctx, cfg.Bucket); err != nil {
		t.Fatal(err)
	}
	anew, err := s.JS.CreateKeyValue(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	held := holdKey("acme", "s1", time.Unix(100, 0))
	if _, err := anew.Put(ctx, held, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the view holding the new bucket's hold "+held+" only", func() bool {
		v := p.holds.snapshot()
		return len(v) == 1 && slices.Equal(v["acme"], []string{held})
	})
}

// TestHoldsSeeACapChangeInACapsBucketMadeAnew: an operator deletes the
// caps bucket and makes it anew (an `iseed` start ensures it at once),
// then sets a cap there. Held submissions are looked at again when a cap
// changes, not only every HoldPoll: the holds follower's caps watch,
// which stops when its bucket is made anew (budget.FollowCaps), was never
// started again, and a raised cap waited for the next HoldPoll.
func TestHoldsSeeACapChangeInACapsBucketMadeAnew(t *testing.T) {
	t.Parallel() // its own server; it waits out bucket.Recheck (5 s)
	s := natstest.Run(t)
	s.KeepStreamsDir(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	caps, usage, err := budget.EnsureBuckets(ctx, s.JS, "iseed_budgets", "iseed_usage", 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	capped, _ := json.Marshal(budget.Caps{DailyEUR: 1000})
	for i := range 50 { // the old bucket's revisions go past the new one's
		if _, err := caps.Put(ctx, fmt.Sprintf("tenant.other%d", i), capped); err != nil {
			t.Fatal(err)
		}
	}
	b, err := budget.New(caps, usage, budget.Config{})
	if err != nil {
		t.Fatal(err)
	}
	holds, err := s.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "iseed_holds"})
	if err != nil {
		t.Fatal(err)
	}
	l := layout.Layout{Prefix: "iseed"}
	records, err := s.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: l.RecordsBucket()})
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{cfg: Config{HoldPoll: time.Hour, Now: time.Now}, d: Deps{Budget: b, Publisher: s.JS}, lay: l, holds: &holdIndex{kv: holds},
		store: record.NewStore(records), log: zerolog.Nop(), rare: zerolog.Nop()}
	wg.Go(func() { _ = p.RunHolds(ctx) })
	// A hold whose record is gone: a pass removes its key, which is how
	// the test sees that a pass was made.
	hold := func(id string) string {
		t.Helper()
		key := holdKey("acme", id, time.Unix(100, 0))
		if _, err := holds.Put(ctx, key, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 10*time.Second, "the hold "+key+" in the view", func() bool { return slices.Contains(p.holds.snapshot()["acme"], key) })
		return key
	}
	passed := func(key string) bool {
		_, err := holds.Get(ctx, key)
		return errors.Is(err, jetstream.ErrKeyNotFound)
	}
	k1 := hold("s1")
	var last time.Time
	waitUntil(t, 10*time.Second, "a pass once acme's cap is set", func() bool {
		if time.Since(last) > 250*time.Millisecond { // the caps watch may not have begun yet
			last = time.Now()
			if _, err := caps.Put(ctx, "tenant.acme", capped); err != nil {
				t.Fatal(err)
			}
		}
		return passed(k1)
	})

	if err := s.JS.DeleteKeyValue(ctx, "iseed_budgets"); err != nil {
		t.Fatal(err)
	}
	anew, _, err := budget.EnsureBuckets(ctx, s.JS, "iseed_budgets", "iseed_usage", 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	k2 := hold("s2")
	if _, err := anew.Put(ctx, "tenant.acme", capped); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "a pass once acme's cap is set in the bucket made anew", func() bool { return passed(k2) })
}

// TestHoldsWatchNoticesItsConsumerLost: the holds watch's consumer lost
// with the connection up (the cluster node that held it failed) delivers
// nothing until nats.go, missing the server's heartbeats, makes it again
// 10 to 20 s later; a submission held meanwhile stays out of the view and
// is not released. The watch's check sees a hold stored and undelivered
// and watches anew.
func TestHoldsWatchNoticesItsConsumerLost(t *testing.T) {
	s := natstest.Run(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	kv, err := s.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "iseed_holds"})
	if err != nil {
		t.Fatal(err)
	}
	first := holdKey("acme", "s1", time.Unix(100, 0))
	if _, err := kv.Put(ctx, first, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{cfg: Config{HoldPoll: time.Hour}, holds: &holdIndex{kv: kv, recheck: 200 * time.Millisecond}, log: zerolog.Nop()}
	wg.Go(func() { _ = p.RunHolds(ctx) })
	waitUntil(t, 5*time.Second, "the first hold in the view", func() bool { return len(p.holds.snapshot()["acme"]) == 1 })

	s.LoseConsumer(t, "KV_iseed_holds")
	second := holdKey("acme", "s2", time.Unix(200, 0))
	if _, err := kv.Put(ctx, second, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 8*time.Second, "the hold stored after the consumer was lost in the view (nats.go alone: 10 to 20 s)", func() bool {
		return slices.Equal(p.holds.snapshot()["acme"], []string{first, second})
	})
}
