package tracking

import (
	"context"
	"crypto/sha256"
	"sync/atomic"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// laggingBucket is an R3 documents bucket read through a follower that has
// not stored the object yet: its first behind gets find no object. Object
// stores answer their metadata with direct gets, which any replica
// answers (allow_direct), so a read right after a put may miss it: seen in
// the deployment walk (three nodes, a rolling restart), where 4 of about 60
// documents were downloaded from the upstream again for it.
type laggingBucket struct {
	jetstream.ObjectStore
	behind atomic.Int64
}

func (b *laggingBucket) Get(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) (jetstream.ObjectResult, error) {
	if b.behind.Add(-1) >= 0 {
		return nil, jetstream.ErrObjectNotFound
	}
	return b.ObjectStore.Get(ctx, name, opts...)
}

// TestReadsBackWaitsForALaggingReplica: a read-back that finds no object
// at first tries again, and finds what was put; an object that never
// appears is still reported as not read back.
func TestReadsBackWaitsForALaggingReplica(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	obs, err := srv.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("PK\x03\x04 a document")
	if _, err := obs.PutBytes(ctx, "a/b.zip", body); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	for _, tt := range []struct {
		name   string
		behind int64
		want   bool
	}{
		{"in step", 0, true},
		{"one get behind", 1, true},
		{"three gets behind", 3, true},
		{"never there", 1000, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &laggingBucket{ObjectStore: obs}
			b.behind.Store(tt.behind)
			_, ok, err := readsBack(ctx, b, "a/b.zip", int64(len(body)), objectDigest(sum[:]))
			if err != nil || ok != tt.want {
				t.Errorf("readsBack: got %v, %v; want %v, nil", ok, err, tt.want)
			}
		})
	}
}
