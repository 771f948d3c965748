package tracking

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// failingPutBucket is a documents bucket whose first put lands whole and
// then fails, its chunks purged and its meta left: what nats.go does with
// a put whose acknowledgement comes late once its meta has landed (its
// chunks purged, the put failed). Each put says whether its context had a
// deadline.
type failingPutBucket struct {
	jetstream.ObjectStore
	stream      jetstream.Stream
	puts        atomic.Int32
	noDeadlines atomic.Int32
}

func (b *failingPutBucket) Put(ctx context.Context, meta jetstream.ObjectMeta, r io.Reader) (*jetstream.ObjectInfo, error) {
	if _, ok := ctx.Deadline(); !ok {
		b.noDeadlines.Add(1)
	}
	info, err := b.ObjectStore.Put(ctx, meta, r)
	if err != nil || b.puts.Add(1) > 1 {
		return info, err
	}
	if err := b.stream.Purge(ctx, jetstream.WithPurgeSubject("$O."+info.Bucket+".C."+info.NUID)); err != nil {
		return nil, err
	}
	return nil, errors.New("nats: timeout")
}

// TestFailedPutLeavesNoBrokenName: a store whose put failed after its meta
// landed, its chunks purged, left the name naming chunks that were gone.
// Another replica's catch-up may have found the object whole before the
// purge and announced it: the tenant's document could then never be read
// (the chaos suite's slow, lossy routes, once). The put looks at what it
// left and stores the document again; and each put has a deadline, with
// which nats.go waits for late acknowledgements instead of purging.
func TestFailedPutLeavesNoBrokenName(t *testing.T) {
	h := pipetest.New(t)
	const id = "emp-failed-put"
	putInProgress(h, id, "r-failed-put", time.Now())
	up := &readyUpstream{sameDocument{body: []byte("PK\x03\x04 ISEE attestazione")}}
	tr, err := New(Config{TempDir: t.TempDir(), Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)},
		Deps{Resources: h.Res, Upstream: up, Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec := h.Record(id)
	obs, err := tr.documents(ctx, rec.Tenant)
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.NATS.JS.Stream(ctx, "OBJ_"+tr.lay.TenantDocumentsBucket(rec.Tenant))
	if err != nil {
		t.Fatal(err)
	}
	bucket := &failingPutBucket{ObjectStore: obs, stream: st}
	tr.buckets.Store(rec.Tenant, bucket)
	s, err := tr.download(ctx, rec, visengine.StateDataReady)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	sd, err := tr.storeDocument(ctx, rec, s)
	if err != nil {
		t.Fatalf("store: %v; want the document stored again after the failed put", err)
	}
	if n := bucket.puts.Load(); n != 2 {
		t.Errorf("puts: %d, want 2 (the failed one, then one whole)", n)
	}
	info, err := obs.GetInfo(ctx, sd.ref.Object)
	if err != nil {
		t.Fatal(err)
	}
	if whole, err := tr.whole(ctx, info); !whole || err != nil {
		t.Errorf("the stored document is whole: %v (%v); want true", whole, err)
	}
	if _, ok, err := readsBack(ctx, obs, sd.ref.Object, int64(len(up.body)), info.Digest); !ok || err != nil {
		t.Errorf("the stored document reads back: %v (%v); want true", ok, err)
	}
	if n := bucket.noDeadlines.Load(); n != 0 {
		t.Errorf("%d puts without a deadline: nats.go then fails a put on a late acknowledgement and purges its chunks", n)
	}
}
