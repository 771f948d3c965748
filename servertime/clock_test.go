package servertime

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

func TestClockFollowsTheServerNotTheWallClock(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "clock"})
	if err != nil {
		t.Fatal(err)
	}
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
	srv := natstest.Run(t)
	ctx := context.Background()
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "clock"})
	if err != nil {
		t.Fatal(err)
	}
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
	srv := natstest.Run(t)
	ctx := context.Background()
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "clock"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, Key, nil); err != nil {
		t.Fatal(err)
	}
	stale, err := kv.Get(ctx, Key)
	if err != nil {
		t.Fatal(err)
	}
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
