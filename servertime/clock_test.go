package servertime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestClockFollowsTheServerNotTheWallClock(t *testing.T) {
	ctx := context.Background()
	kv := clockBucket(t)
	c := New(kv, time.Hour)
	before := time.Now()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// The embedded server shares this machine's clock: the estimate is the
	// wall clock, never ahead of it.
	for range 5 {
		now, wall := c.Now(), time.Now()
		if now.After(wall) || now.Before(before) {
			t.Fatalf("estimate %s outside [%s, %s]", now, before, wall)
		}
	}
	// A later sync keeps it there.
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if now, wall := c.Now(), time.Now(); now.After(wall) || wall.Sub(now) > time.Second {
		t.Fatalf("after a second sync: estimate %s, wall %s", now, wall)
	}
}

// TestClockIgnoresAWrongWallClock: a machine whose clock is an hour ahead
// still tells the server's time once synced.
func TestClockIgnoresAWrongWallClock(t *testing.T) {
	ctx := context.Background()
	kv := clockBucket(t)
	ahead := NewWithLocal(kv, time.Hour, func() time.Time { return time.Now().Add(time.Hour) })
	if err := ahead.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if now, wall := ahead.Now(), time.Now(); now.After(wall) || wall.Sub(now) > time.Second {
		t.Fatalf("a clock an hour ahead: estimate %s, server (this machine) %s", now, wall)
	}
}

func TestClockObserveNeverRunsAhead(t *testing.T) {
	c := &Clock{local: time.Now}
	at := time.Now()
	server := at.Add(-time.Hour) // a server an hour behind this machine
	c.observe(server, at)
	if got := c.Now(); got.After(server.Add(time.Since(at))) || got.Before(server) {
		t.Fatalf("got %s, want about %s", got, server)
	}
	// The server steps back a minute: the estimate follows it back.
	c.observe(server.Add(-time.Minute), at)
	if got := c.Now(); got.After(server) {
		t.Fatalf("after the server stepped back: got %s, want at most %s", got, server)
	}
}

// laggingReplica is a bucket whose latest-value reads are answered by a
// replica that has not seen the newest writes: they return the value the
// bucket held when it was made. A read of a given revision is exact.
type laggingReplica struct {
	jetstream.KeyValue
	stale jetstream.KeyValueEntry
}

func (l laggingReplica) Get(context.Context, string) (jetstream.KeyValueEntry, error) {
	return l.stale, nil
}

// TestClockReadsItsOwnWrite: a sync reads back the revision it wrote, not
// the key's latest value, which a lagging replica answers with an older
// write's time (minutes behind on a healthy cluster, in an SRE's run).
func TestClockReadsItsOwnWrite(t *testing.T) {
	ctx := context.Background()
	kv := clockBucket(t)
	stale := staleEntry(t, kv)
	// The replica lags by as long as it takes the server's clock to move
	// on: the test waits for that, instead of a fixed time.
	for !time.Now().After(stale.Created().Add(50 * time.Millisecond)) {
		time.Sleep(10 * time.Millisecond)
	}
	c := New(laggingReplica{KeyValue: kv, stale: stale}, time.Hour)
	before := time.Now()
	if err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if now := c.Now(); now.Before(before) {
		t.Errorf("estimate %s, before the sync began (%s): the stale entry's time %s was taken", now, before, stale.Created())
	}
}

// TestClocksSyncAtOnce: the bucket keeps one revision of the key, so a put
// of another clock (another replica, two operators' commands at once) can
// replace this one's before it is read back. Each sync must still succeed,
// and no estimate may run ahead of the server.
func TestClocksSyncAtOnce(t *testing.T) {
	ctx := context.Background()
	kv := clockBucket(t)
	const clocks, syncs = 4, 100
	var wg sync.WaitGroup
	errs := make(chan error, clocks*syncs)
	for range clocks {
		wg.Go(func() {
			c := New(kv, time.Hour)
			for range syncs {
				if err := c.Sync(ctx); err != nil {
					errs <- err
					continue
				}
				if now, wall := c.Now(), time.Now(); now.After(wall) {
					errs <- fmt.Errorf("estimate %s ahead of the server (this machine) %s", now, wall)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 3 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Errorf("%d of %d syncs failed", n, clocks*syncs)
	}
}

// replicaBehind is a lagging replica (laggingReplica) that has not stored
// the sync's write yet: a read of its revision finds nothing.
type replicaBehind struct{ laggingReplica }

func (replicaBehind) GetRevision(context.Context, string, uint64) (jetstream.KeyValueEntry, error) {
	return nil, jetstream.ErrKeyNotFound
}

// TestClockRefusesALaggingReplicasValue: when the revision a sync wrote
// is not found, the key's latest value serves only if it is a later write
// (TestClocksSyncAtOnce); an older one, a lagging replica's, fails the sync
// and the previous estimate stays.
func TestClockRefusesALaggingReplicasValue(t *testing.T) {
	ctx := context.Background()
	kv := clockBucket(t)
	stale := staleEntry(t, kv)
	c := New(replicaBehind{laggingReplica{KeyValue: kv, stale: stale}}, time.Hour)
	if err := c.Sync(ctx); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("sync answered by a lagging replica: %v, want its key not found", err)
	}
	c.mu.Lock()
	kept := c.server
	c.mu.Unlock()
	if !kept.IsZero() {
		t.Errorf("the lagging replica's time %s was kept", kept)
	}
}

// clockBucket is a fresh bucket for the clock's key, on a server of its own.
func clockBucket(t *testing.T) jetstream.KeyValue {
	t.Helper()
	kv, err := natstest.Run(t).JS.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "clock"})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// staleEntry writes the clock's key once and returns that write: what a
// lagging replica still answers after later ones.
func staleEntry(t *testing.T, kv jetstream.KeyValue) jetstream.KeyValueEntry {
	t.Helper()
	ctx := context.Background()
	if _, err := kv.Put(ctx, Key, nil); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, Key)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
