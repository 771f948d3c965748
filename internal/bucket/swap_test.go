package bucket

import (
	"context"
	"sync"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSwap: the first swap finds nothing, the next the value before it;
// of writers swapping at once, each but one finds another's value, none
// loses its write.
func TestSwap(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "swap"})
	if err != nil {
		t.Fatal(err)
	}
	if prev, found, err := Swap(ctx, kv, "k", []byte("a"), 4); err != nil || found || prev != nil {
		t.Fatalf("first swap: %q, %v, %v; want nothing found", prev, found, err)
	}
	if prev, found, err := Swap(ctx, kv, "k", []byte("b"), 4); err != nil || !found || string(prev) != "a" {
		t.Fatalf("second swap: %q, %v, %v; want a", prev, found, err)
	}
	const writers = 8
	var wg sync.WaitGroup
	got := make([]string, writers)
	for i := range writers {
		wg.Go(func() {
			prev, found, err := Swap(ctx, kv, "k", []byte{byte('c' + i)}, 64)
			if err != nil || !found {
				t.Errorf("writer %d: %q, %v, %v", i, prev, found, err)
			}
			got[i] = string(prev)
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for _, p := range got {
		seen[p]++
	}
	// Each value written is found by the next writer, once: a chain from
	// b through all but the last.
	if len(seen) != writers || seen["b"] != 1 {
		t.Errorf("values found %v; want b and seven of the writers', each once", seen)
	}
}
