package schema

import (
	"testing"
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
