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
// session could be used; once the session has expired, a sweep removes it
// from memory and from the bucket, without leaving a delete marker behind.
func TestSweepRemovesExpiredLogouts(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "iseed_keys", History: 1})
	if err != nil {
		t.Fatal(err)
	}
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
		{"at the expiry", now.Add(time.Hour), "EXPIRING", false, 0},
		{"another's, not expired", now.Add(time.Hour), "LATER", true, 1},
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
