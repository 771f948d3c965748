package tracking

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// spentBudget is an upstream budget with no token left: Wait returns only
// when its context ends, and says on waiting that a wait began.
type spentBudget struct{ waiting chan struct{} }

func (b spentBudget) Wait(ctx context.Context) error {
	select {
	case b.waiting <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestShutdownHandsBackAPollWaitingForItsToken: a poll waiting for a token
// of the upstream budget when the tracker stops has made no call and only
// waits: the tracker returns at once and hands its task back, instead of
// waiting out ShutdownTimeout (30 s) with it.
func TestShutdownHandsBackAPollWaitingForItsToken(t *testing.T) {
	h := pipetest.New(t)
	t0 := time.Now()
	const id = "emp-waiting"
	putInProgress(h, id, "r-waiting", t0)
	const shutdown = 30 * time.Second
	budget := spentBudget{waiting: make(chan struct{}, 1)}
	tr, err := New(Config{Schedule: []time.Duration{50 * time.Millisecond}, ShutdownTimeout: shutdown,
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)},
		Deps{Resources: h.Res, Upstream: &flakyUpstream{}, Events: publisher.New(h.NATS.JS, publisher.Config{}),
			Publisher: h.NATS.JS, Limiter: budget})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := tr.Track(ctx, h.Record(id)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	select {
	case <-budget.waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("no poll waited for its token")
	}
	stopsAtOnce(t, cancel, done, shutdown-5*time.Second, "its poll waiting for a token", shutdown)
	info, err := h.Res.Track.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("tracking tasks after the shutdown: got %d, want 1 (handed back, not acked)", info.State.Msgs)
	}
}

// readyUpstream answers every poll Dati disponibili, its document the
// same bytes each time.
type readyUpstream struct{ sameDocument }

func (u *readyUpstream) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	return &visengine.Richiesta{ID: id, StatoRichiesta: visengine.StateDataReady}, nil
}

// vanishingBucket is a documents bucket whose objects lose their chunks
// as they are read back, their meta staying (an object deleted while a
// poll reads it back, as TestDocumentGet deletes its document while a
// late poll checks it): the read waits for bytes that never come.
type vanishingBucket struct {
	jetstream.ObjectStore
	stream  jetstream.Stream
	reading chan struct{}
}

func (b *vanishingBucket) Get(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) (jetstream.ObjectResult, error) {
	info, err := b.GetInfo(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := b.stream.Purge(ctx, jetstream.WithPurgeSubject("$O."+info.Bucket+".C."+info.NUID)); err != nil {
		return nil, err
	}
	select {
	case b.reading <- struct{}{}:
	default:
	}
	return b.ObjectStore.Get(ctx, name, opts...)
}

// TestShutdownEndsAPollReadingBackAVanishedDocument: the daemon of
// TestDocumentGet took 40 s to stop, once in 85 runs: a poll was reading
// back a document the test deleted meanwhile, its chunks gone, its meta
// read just before. The read waited for its chunks until the shutdown
// timeout (30 s), and then, cancelled, until its own deadline (a minute),
// which the daemon's group abandoned at 40 s. A read-back finds what is
// stored and writes nothing: the tracker stops at once, the poll handed
// back.
func TestShutdownEndsAPollReadingBackAVanishedDocument(t *testing.T) {
	h := pipetest.New(t)
	t0 := time.Now()
	const id = "emp-vanishing"
	putInProgress(h, id, "r-vanishing", t0)
	const shutdown = 30 * time.Second
	tr, err := New(Config{Schedule: []time.Duration{50 * time.Millisecond}, ShutdownTimeout: shutdown, TempDir: t.TempDir(),
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)},
		Deps{Resources: h.Res, Upstream: &readyUpstream{sameDocument{body: []byte("%PDF-1.7 ricevuta DSU")}},
			Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tenant := h.Record(id).Tenant
	obs, err := tr.documents(ctx, tenant)
	if err != nil {
		t.Fatal(err)
	}
	st, err := h.NATS.JS.Stream(ctx, "OBJ_"+tr.lay.TenantDocumentsBucket(tenant))
	if err != nil {
		t.Fatal(err)
	}
	bucket := &vanishingBucket{ObjectStore: obs, stream: st, reading: make(chan struct{}, 1)}
	tr.buckets.Store(tenant, bucket)
	if err := tr.Track(ctx, h.Record(id)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	select {
	case <-bucket.reading:
	case <-time.After(30 * time.Second):
		t.Fatal("no poll read its document back")
	}
	stopsAtOnce(t, cancel, done, shutdown+5*time.Second, "its poll reading back a document without chunks", shutdown)
}

// stopsAtOnce begins the tracker's shutdown (cancel) and wants Run (done)
// to return within 5 s; it gives up after wait, saying what the tracker's
// poll was doing and the shutdown timeout it would otherwise wait out.
func stopsAtOnce(t *testing.T, cancel context.CancelFunc, done <-chan error, wait time.Duration, doing string, shutdown time.Duration) {
	t.Helper()
	start := time.Now()
	cancel()
	select {
	case <-done:
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the tracker stopped %s after its shutdown began; want at once", took.Round(time.Millisecond))
		}
	case <-time.After(wait):
		t.Fatalf("the tracker still running %s after its shutdown began, %s (the timeout is %s)", wait, doing, shutdown)
	}
}
