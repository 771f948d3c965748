package consumer

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestCapsViewNoticesItsWatchLost: the caps watch's consumer is gone
// while the connection stays up, as when the cluster node that held it
// fails and the client is connected to another; a cap is then set where
// none was. nats.go makes the watch's consumer again only when it has
// missed the server's heartbeats, up to 20 s later, and meanwhile the view
// said acme was uncapped: acme's submissions reserved nothing, past the
// cap just set. The view now checks that its watch keeps up with the
// bucket and, when an entry stays undelivered, knows nothing until a new
// watch has read the bucket.
func TestCapsViewNoticesItsWatchLost(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	caps, _, err := budget.EnsureBuckets(ctx, s.JS, "iseed_budgets", "iseed_usage", 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	v := newCapsView(caps)
	wg.Go(func() { v.run(ctx, s.NC, zerolog.Nop()) })
	waitUntil(t, 5*time.Second, "the view is complete and acme uncapped", func() bool { return v.uncapped("acme") })

	st, err := s.JS.Stream(ctx, "KV_iseed_budgets")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range st.ConsumerNames(ctx).Name() {
		names = append(names, name)
	}
	if len(names) != 1 {
		t.Fatalf("consumers of the caps bucket: %v, want the view's watch alone", names)
	}
	if err := st.DeleteConsumer(ctx, names[0]); err != nil {
		t.Fatal(err)
	}
	capped, _ := json.Marshal(budget.Caps{DailyEUR: 1})
	if _, err := caps.Put(ctx, "tenant.acme", capped); err != nil {
		t.Fatal(err)
	}
	set := time.Now()
	waitUntil(t, 9*time.Second, "the view no longer saying acme is uncapped", func() bool { return !v.uncapped("acme") })
	t.Logf("noticed %s after the cap was set", time.Since(set).Round(time.Millisecond))
	waitUntil(t, 10*time.Second, "the view complete again with acme capped", func() bool { return v.complete() && !v.uncapped("acme") })
}
