package schema

import (
	"testing"
	"time"
)

// Invalidate makes the next lookup ask the upstream, past memory and the
// bucket.
func TestInvalidate(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json")
	c := NewCache(up, kv, CacheConfig{})
	ctx := t.Context()
	const hash = "6aa0789f5ba34684b2bc5ccf364f8929"
	for range 2 {
		if _, err := c.Service(ctx, hash); err != nil {
			t.Fatal(err)
		}
	}
	if got := up.count(hash); got != 1 {
		t.Fatalf("upstream calls before Invalidate: got %d, want 1", got)
	}
	if err := c.Invalidate(ctx, hash); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Service(ctx, hash); err != nil {
		t.Fatal(err)
	}
	if got := up.count(hash); got != 2 {
		t.Errorf("upstream calls after Invalidate: got %d, want 2", got)
	}
	if err := c.Invalidate(ctx, "never-cached"); err != nil {
		t.Errorf("Invalidate of an uncached service: %v", err)
	}
}

// TestCacheEntryOfAReplicaWhoseClockRunsAhead: a replica whose clock is
// two days ahead writes fetched_at two days in the future. The other
// replicas must still take the entry as expired once TTL has passed on the
// server since it was stored, not TTL plus that replica's error.
func TestCacheEntryOfAReplicaWhoseClockRunsAhead(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json")
	const ttl = 200 * time.Millisecond
	const hash = "6aa0789f5ba34684b2bc5ccf364f8929"
	ctx := t.Context()
	ahead := NewCache(up, kv, CacheConfig{TTL: ttl, Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	if _, err := ahead.Service(ctx, hash); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(ctx, serviceKey(hash))
	if err != nil {
		t.Fatal(err)
	}
	for time.Since(e.Created()) <= ttl { // the entry expires on the server's clock
		time.Sleep(10 * time.Millisecond)
	}
	right := NewCache(up, kv, CacheConfig{TTL: ttl})
	if _, err := right.Service(ctx, hash); err != nil {
		t.Fatal(err)
	}
	if got := up.count(hash); got != 2 {
		t.Errorf("upstream calls: got %d, want 2: an entry stored %v ago, with a TTL of %v, was served as fresh", got, time.Since(e.Created()).Round(time.Millisecond), ttl)
	}
}
