package console

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestLogoutsWatchNoticesItsConsumerLost: the logouts watch's consumer is
// gone while the connection stays up, as when the cluster node that held
// it fails and the client is connected to another; another replica then
// logs a session out. nats.go makes the consumer again only when it has
// missed the server's heartbeats, 10 to 20 s later, and meanwhile the
// logged-out session was accepted here. Now each check of the bucket also
// reads the last logout stored, and a watch that has not delivered it a
// second later is watched anew.
func TestLogoutsWatchNoticesItsConsumerLost(t *testing.T) {
	srv, kv := keysBucket(t)
	ctx := t.Context()
	here := runRevocations(t, srv, kv, 200*time.Millisecond)

	other := newRevocations(kv, srv.JS, time.Now, zerolog.Nop()) // another replica
	if err := other.store(ctx, "EARLY", time.Now().Add(time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the logout EARLY refused here", func() bool { return here.has("EARLY") })

	srv.LoseConsumer(t, "KV_"+kv.Bucket())
	if err := other.store(ctx, "LATE", time.Now().Add(time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	stored := time.Now()
	waitFor(t, 8*time.Second, "the logout LATE refused here, its watch's consumer lost", func() bool { return here.has("LATE") })
	t.Logf("refused here %s after it was stored", time.Since(stored).Round(time.Millisecond))
	if !here.has("EARLY") || !here.ready() {
		t.Errorf("after watching anew: EARLY refused %v, ready %v; want both", here.has("EARLY"), here.ready())
	}
}

// runRevocations runs a replica's revocations on kv, checking the bucket
// every recheck (zero: bucket.Recheck), until the test ends, and returns
// them once they have read the stored logouts.
func runRevocations(t *testing.T, srv *natstest.Server, kv jetstream.KeyValue, recheck time.Duration) *revocations {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	v := newRevocations(kv, srv.JS, time.Now, zerolog.Nop())
	v.recheck = recheck
	go func() { defer close(done); _ = v.run(ctx) }()
	waitFor(t, 5*time.Second, "this replica synced", v.ready)
	return v
}
