package tracking

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync/atomic"
	"testing"
	"time"

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

// TestReadsBackEndsWhenCancelled: a read-back of an object whose chunks
// went while its meta stayed (deleted meanwhile, as an operator or a test
// deletes it while a poll checks it, or a put racing on another replica)
// waits for bytes that never come, and nats.go's reader waits for them
// until its context's deadline (readBackTimeout, a minute or more),
// whatever its cancellation: seen as a daemon whose shutdown was abandoned
// 10 s after it cancelled in-flight work. Cancelled, it must end at once.
func TestReadsBackEndsWhenCancelled(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	obs, err := srv.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "docs"})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte("PK\x03\x04 a document")
	info, err := obs.PutBytes(ctx, "a/b.zip", body)
	if err != nil {
		t.Fatal(err)
	}
	st, err := srv.JS.Stream(ctx, "OBJ_docs")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSubject("$O.docs.C."+info.NUID)); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := readsBack(rctx, obs, "a/b.zip", int64(len(body)), objectDigest(sum[:]))
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("read-back of an object without its chunks ended before it was cancelled: %v; want it waiting", err)
	case <-time.After(500 * time.Millisecond): // the reader waits on its pipe
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled read-back: got %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatalf("read-back still running 3 s after it was cancelled; want it ended at once (it waits until %s)", readBackTimeout(int64(len(body))))
	}
}
