package console

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestLogoutsInAKeysBucketMadeAnew: an operator deletes the keys bucket
// and makes it anew (an `iseed` start ensures it at once); a session is
// then logged out on another replica, which stores it in the new bucket.
// This replica must refuse it: a watch of the old bucket goes on after its
// last revision and would never deliver the new bucket's first logouts,
// and the logged-out session would stay valid here until it expires. The
// logouts this replica knew, gone with the old bucket, must still be
// refused here, and be stored again, so that a replica started later
// refuses them too.
func TestLogoutsInAKeysBucketMadeAnew(t *testing.T) {
	srv, kv := keysBucket(t)
	srv.KeepStreamsDir(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	now := time.Now
	exp := time.Now().Add(time.Hour).Unix()
	here := newRevocations(kv, srv.JS, now, zerolog.Nop())
	go func() { defer close(done); _ = here.run(ctx) }()
	for i := range 20 { // the old bucket's revisions go past the new one's
		if err := here.revoke(ctx, fmt.Sprint("OLD", i), exp); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "this replica synced", here.ready)

	if err := srv.JS.DeleteKeyValue(ctx, "iseed_keys"); err != nil {
		t.Fatal(err)
	}
	anew, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "iseed_keys", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	other := newRevocations(anew, srv.JS, now, zerolog.Nop()) // another replica, its logout stored
	if err := other.revoke(ctx, "NEW", exp); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the logout NEW, stored in the new bucket, refused here", func() bool {
		return here.ready() && here.has("NEW")
	})
	if !here.has("OLD0") {
		t.Errorf("the logout OLD0 of the old bucket: got accepted here, want refused")
	}
	waitFor(t, 10*time.Second, "the logout OLD0 stored again in the new bucket", func() bool {
		_, err := anew.Get(ctx, revokedPrefix+"OLD0")
		return err == nil
	})
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: got not yet, want %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
