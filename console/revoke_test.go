package console

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestSweepRemovesExpiredLogouts: a logout stays in the bucket while its
// session could be used, by any replica's clock; once the session has
// expired for sweepGrace, a sweep removes it from memory and from the
// bucket, without leaving a delete marker behind.
func TestSweepRemovesExpiredLogouts(t *testing.T) {
	srv, kv := keysBucket(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	v := newRevocations(kv, srv.JS, func() time.Time { return now }, zerolog.Nop())
	for id, ttl := range map[string]time.Duration{"EXPIRING": time.Hour, "LATER": 2 * time.Hour} {
		if err := v.revoke(ctx, id, now.Add(ttl).Unix()); err != nil {
			t.Fatal(err)
		}
	}
	stored := func(id string) uint64 {
		t.Helper()
		st, err := srv.JS.Stream(ctx, "KV_iseed_keys")
		if err != nil {
			t.Fatal(err)
		}
		subject := "$KV.iseed_keys." + revokedPrefix + id
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Subjects[subject]
	}
	tests := []struct {
		name    string
		at      time.Time
		id      string
		revoked bool
		msgs    uint64
	}{
		{"before the expiry", now.Add(time.Hour - time.Second), "EXPIRING", true, 1},
		{"at the expiry: another replica's clock may be behind", now.Add(time.Hour), "EXPIRING", true, 1},
		{"just before the grace ends", now.Add(time.Hour + sweepGrace - time.Second), "EXPIRING", true, 1},
		{"once the grace after the expiry is over", now.Add(time.Hour + sweepGrace), "EXPIRING", false, 0},
		{"another's, not expired", now.Add(time.Hour + sweepGrace), "LATER", true, 1},
	}
	for _, tt := range tests {
		now = tt.at
		v.sweep(ctx)
		if got := v.has(tt.id); got != tt.revoked {
			t.Errorf("%s: has(%s): got %v, want %v", tt.name, tt.id, got, tt.revoked)
		}
		if got := stored(tt.id); got != tt.msgs {
			t.Errorf("%s: messages of %s in the bucket: got %d, want %d", tt.name, tt.id, got, tt.msgs)
		}
	}
	if _, err := kv.Get(ctx, revokedPrefix+"EXPIRING"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the swept logout: got %v, want ErrKeyNotFound", err)
	}
}

// TestSweepByAFastClockLeavesTheLogout: replicas' clocks differ a little.
// A replica whose clock runs ahead sweeps a logout when its session has
// expired by that clock, but not by the others': a replica that starts
// then, its clock right, must still know the session was logged out.
func TestSweepByAFastClockLeavesTheLogout(t *testing.T) {
	srv, kv := keysBucket(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	const skew = 2 * time.Minute
	fast := newRevocations(kv, srv.JS, func() time.Time { return exp }, zerolog.Nop()) // skew ahead of now
	if err := fast.revoke(ctx, "SESSION", exp.Unix()); err != nil {
		t.Fatal(err)
	}
	fast.sweep(ctx)

	right := newRevocations(kv, srv.JS, func() time.Time { return exp.Add(-skew) }, zerolog.Nop())
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = right.run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-right.readyc:
	case <-time.After(10 * time.Second):
		t.Fatal("the replica started later never read the logouts")
	}
	if !right.has("SESSION") {
		t.Errorf("a replica %s behind the sweeper's clock, started after the sweep: the session, valid %s more by its clock, is not known as logged out", skew, skew)
	}
}

// keysBucket is a NATS server with a bucket like iseed_keys.
func keysBucket(t *testing.T) (*natstest.Server, jetstream.KeyValue) {
	t.Helper()
	srv := natstest.Run(t)
	kv, err := srv.JS.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "iseed_keys", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	return srv, kv
}
