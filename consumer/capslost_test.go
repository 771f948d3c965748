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

// TestCapsViewKnowsNothingWhileNATSIsLost: the NATS server restarts, and
// a cap is set where none was once it is back. The view's watch lost its
// consumer with the server, and nats.go makes it again only after missed
// heartbeats (up to 20 s later): the view stayed complete, with no cap for
// acme, and acme's submissions reserved nothing, past the cap just set.
// Now the view knows nothing (every submission reserves) from the moment
// the connection is lost until a watch begun after it is back has read
// the bucket, acme's cap with it.
func TestCapsViewKnowsNothingWhileNATSIsLost(t *testing.T) {
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

	s.Stop()
	waitUntil(t, 5*time.Second, "the view knowing nothing while NATS is lost", func() bool { return !v.complete() })
	s.Start()
	capped, _ := json.Marshal(budget.Caps{DailyEUR: 1})
	waitUntil(t, 20*time.Second, "acme's cap stored once NATS is back", func() bool {
		_, err := caps.Put(ctx, "tenant.acme", capped)
		return err == nil
	})
	waitUntil(t, 10*time.Second, "the view complete again with acme capped", func() bool { return v.complete() && !v.uncapped("acme") })
}
