package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// trackHarness is the pipeline harness plus tracking: the simulator with a
// fast lifecycle, the tracking resources, the prior-ISEE gate and,
// optionally, the callback endpoint on its own HTTP server.
type trackHarness struct {
	*harness
	tr        *consumer.TrackingResources
	schemas   consumer.Schemas
	history   *consumer.History
	limiter   *rate.Limiter
	callbacks *consumer.Callbacks
	cbURL     string
	tcfg      consumer.TrackerConfig
	current   *consumer.RequestTracker // the tracker callbacks refresh through
	upstream  consumer.TrackerUpstream // nil: the simulator's client
	mu        sync.Mutex
}

type trackSetup struct {
	sim       sim.Config
	tracker   consumer.TrackerConfig
	limiter   *rate.Limiter
	callbacks bool
}

func newTrackHarness(t *testing.T, s trackSetup) *trackHarness {
	t.Helper()
	h := &trackHarness{harness: newHarness(t), limiter: s.limiter, tcfg: s.tracker}
	s.sim.Token = simToken
	h.sim.Close() // the harness's own simulator is replaced (its cleanup will close ours again: harmless)
	h.sim = sim.New(s.sim)
	srv := httptest.NewServer(h.sim)
	t.Cleanup(func() { srv.Close(); h.sim.Close() })
	h.simURL = srv.URL
	u, _ := url.Parse(srv.URL)
	var err error
	if h.client, err = visengine.New(visengine.Config{BaseURL: u, Token: simToken, Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if h.tr, err = consumer.EnsureTracking(ctx, h.nats.JS, h.res.Layout, consumer.TrackingOptions{AckWait: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	kv, err := schema.EnsureBucket(ctx, h.nats.JS, h.res.Layout.SchemasBucket(), 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	h.schemas = schema.NewCache(h.client, kv, schema.CacheConfig{Logger: zerolog.Nop()})
	if h.history, err = consumer.NewHistory(h.tr.History, bytes.Repeat([]byte("k"), 32), h.schemas); err != nil {
		t.Fatal(err)
	}
	if h.limiter == nil {
		h.limiter = rate.NewLimiter(rate.Inf, 1)
	}
	if s.callbacks {
		h.serveCallbacks()
	}
	return h
}

// serveCallbacks starts iseed's callback endpoint; callbacks refresh
// through the tracker started last.
func (h *trackHarness) serveCallbacks() {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	h.t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	cb, err := consumer.NewCallbacks(consumer.CallbackConfig{PublicURL: u, Key: bytes.Repeat([]byte("c"), 32),
		Logger: zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.WarnLevel)}, refresherFunc(h.refresh))
	if err != nil {
		h.t.Fatal(err)
	}
	cb.Register(mux)
	h.callbacks, h.cbURL = cb, srv.URL
}

type refresherFunc func(ctx context.Context, tenant, id string) error

func (f refresherFunc) Refresh(ctx context.Context, tenant, id string) error {
	return f(ctx, tenant, id)
}

func (h *trackHarness) refresh(ctx context.Context, tenant, id string) error {
	h.mu.Lock()
	tr := h.current
	h.mu.Unlock()
	return tr.Refresh(ctx, tenant, id)
}

// newTracker builds a tracker (a replica's) with the harness's settings.
func (h *trackHarness) newTracker(sealer *consumer.Sealer) *consumer.RequestTracker {
	h.t.Helper()
	cfg := h.tcfg
	cfg.Sealer = sealer
	cfg.TempDir = h.t.TempDir()
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.WarnLevel)
	var up consumer.TrackerUpstream = h.client
	if h.upstream != nil {
		up = h.upstream
	}
	tr, err := consumer.NewRequestTracker(cfg, consumer.TrackerDeps{
		Resources: h.res, Tracking: h.tr, Upstream: up, Events: publisher.New(h.nats.JS, publisher.Config{}),
		Publisher: h.nats.JS, Limiter: h.limiter, History: h.history,
	})
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.current = tr
	h.mu.Unlock()
	return tr
}

// runTracker runs tr until the returned stop is called (or the test ends).
func (h *trackHarness) runTracker(tr *consumer.RequestTracker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = tr.Run(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	h.t.Cleanup(stop)
	return stop
}

// startPipeline runs a pipeline that tracks what it submits through tr,
// with the prior-ISEE gate when gate is set.
func (h *trackHarness) startPipeline(tr *consumer.RequestTracker, gate bool) {
	h.t.Helper()
	cfg := consumer.Config{Workers: 4, Retry: consumer.RetryPolicy{MinDelay: 100 * time.Millisecond, MaxDelay: time.Second},
		Logger: zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.WarnLevel)}
	if h.callbacks != nil {
		cfg.Callback = h.callbacks.Data
	}
	d := consumer.Deps{Resources: h.res, Upstream: h.client, Schemas: h.schemas, Files: schema.ObjectStoreSource(h.nats.JS),
		Events: publisher.New(h.nats.JS, publisher.Config{}), Publisher: h.nats.JS, Limiter: h.limiter, Tracker: tr}
	if gate {
		d.Gate = h.history
	}
	p, err := consumer.New(cfg, d)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(ctx) })
	h.t.Cleanup(func() { cancel(); wg.Wait() })
}

// waitClosed waits until tracking of a submission is over.
func (h *trackHarness) waitClosed(id string, d time.Duration) *consumer.Record {
	h.t.Helper()
	var r *consumer.Record
	waitFor(h.t, d, "tracking of "+id+" to end", func() bool {
		r = h.record(id)
		return r != nil && (r.State == consumer.StateCancelled || r.State == consumer.StateFailed ||
			(r.State == consumer.StateCompleted && r.Document != nil))
	})
	return r
}

// typeCounts counts a submission's events by type.
func (h *trackHarness) typeCounts(id string) map[string]int {
	out := map[string]int{}
	for _, ev := range h.events(id) {
		out[ev.Type]++
	}
	return out
}

// lifeTypes are the events of a submission that ran to completion.
func lifeTypes() []string {
	return []string{"iseed.submission.submitted", "iseed.submission.in_progress", "iseed.submission.data_ready",
		"iseed.submission.completed", publisher.TypeDocumentReady}
}

func submissionFor(id, service string, fields map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "service": service, "fields": fields})
	return b
}
