package consumer

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
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
