package console

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestLogoutsLearnedSoonAfterNATSIsBack: the NATS server restarts just
// after this replica began watching the logouts, and another replica logs
// a session out once NATS is back. The watch's consumer went with the
// server, and nats.go makes it again only when it misses the server's
// heartbeats, checked every 10 s from the watch's start: the logged-out
// session stayed valid here for up to 20 s. Now the replica watches anew
// as soon as NATS is back, and refuses it within seconds.
func TestLogoutsLearnedSoonAfterNATSIsBack(t *testing.T) {
	srv, kv := keysBucket(t)
	ctx := t.Context()
	here := runRevocations(t, srv, kv, 0)
	began := time.Now() // nats.go's first heartbeat check is 10 s after the watch began

	srv.Stop()
	srv.Start()
	other := newRevocations(kv, srv.JS, time.Now, zerolog.Nop()) // another replica
	exp := time.Now().Add(time.Hour).Unix()
	waitFor(t, 5*time.Second, "the logout stored once NATS is back", func() bool {
		return other.store(ctx, "LATE", exp) == nil
	})
	waitFor(t, 8*time.Second, "the logout LATE refused here", func() bool { return here.has("LATE") })
	if since := time.Since(began); since >= 10*time.Second {
		t.Errorf("the logout refused here %v after the watch began; want it before nats.go's first heartbeat check, 10 s after", since)
	}
}
