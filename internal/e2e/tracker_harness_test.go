package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/seal"
	"github.com/iseed-dev/iseed/tracking"
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
	schemas    consumer.Schemas
	history    *tracking.History
	polls      tracking.Limiter // the trackers' share of the upstream budget
	submits    consumer.Limiter // the pipeline's
	callbacks  *tracking.Callbacks
	cbURL      string
	tcfg       tracking.Config
	current    *tracking.Tracker                     // the tracker callbacks refresh through
	upstream   tracking.Upstream                     // nil: the simulator's client
	submitter  consumer.Upstream                     // the pipeline's upstream; nil: the simulator's client
	events     func(tracking.Events) tracking.Events // wraps the trackers' events when set
	stop       func()                                // stops the tracker givenUpThrough runs
	notYetWait time.Duration                         // the callbacks' NotYetWait (0: the default)
	mu         sync.Mutex
}

type trackSetup struct {
	sim       sim.Config
	tracker   tracking.Config
	limiter   *rate.Limiter // one limiter for polls and submissions; nil: none
	callbacks bool
	// callbackInterval is the callbacks' MinInterval (0: the default).
	callbackInterval time.Duration
	// callbackNotYetWait is the callbacks' NotYetWait (0: the default).
	callbackNotYetWait time.Duration
}

func newTrackHarness(t *testing.T, s trackSetup) *trackHarness {
	t.Helper()
	h := &trackHarness{harness: &harness{pipetest.NewWithSim(t, s.sim, 5*time.Second)}, tcfg: s.tracker}
	h.schemas = h.Schemas()
	var err error
	if h.history, err = tracking.NewHistory(h.Res.History, h.NATS.JS, bytes.Repeat([]byte("k"), 32), tracking.DefaultServices()); err != nil {
		t.Fatal(err)
	}
	lim := s.limiter
	if lim == nil {
		lim = rate.NewLimiter(rate.Inf, 1)
	}
	h.polls, h.submits = lim, lim
	if s.callbacks {
		h.notYetWait = s.callbackNotYetWait
		h.serveCallbacks(s.callbackInterval)
	}
	return h
}

// serveCallbacks starts iseed's callback endpoint, with every as its
// MinInterval (0: the default); callbacks refresh through the tracker
// started last.
func (h *trackHarness) serveCallbacks(every time.Duration) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	h.T.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	cb, err := tracking.NewCallbacks(tracking.CallbackConfig{PublicURL: u, Key: bytes.Repeat([]byte("c"), 32), MinInterval: every, NotYetWait: h.notYetWait,
		Logger: zerolog.New(zerolog.NewTestWriter(h.T)).Level(zerolog.WarnLevel)}, refresherFunc(h.refresh))
	if err != nil {
		h.T.Fatal(err)
	}
	cb.Register(mux)
	h.callbacks, h.cbURL = cb, srv.URL
}

type refresherFunc func(ctx context.Context, tenant, id string) (bool, error)

func (f refresherFunc) Reread(ctx context.Context, tenant, id string) (bool, error) {
	return f(ctx, tenant, id)
}

func (h *trackHarness) refresh(ctx context.Context, tenant, id string) (bool, error) {
	h.mu.Lock()
	tr := h.current
	h.mu.Unlock()
	return tr.Reread(ctx, tenant, id)
}

// newTracker builds a tracker (a replica's) with the harness's settings.
func (h *trackHarness) newTracker(kr *seal.Keyring) *tracking.Tracker {
	h.T.Helper()
	cfg := h.tcfg
	cfg.Keyring = kr
	cfg.ReplayKey = pipetest.ReplayKey
	cfg.TempDir = h.T.TempDir()
	cfg.Logger = zerolog.New(zerolog.NewTestWriter(h.T)).Level(zerolog.WarnLevel)
	var up tracking.Upstream = h.Client
	if h.upstream != nil {
		up = h.upstream
	}
	var events tracking.Events = publisher.New(h.NATS.JS, publisher.Config{})
	if h.events != nil {
		events = h.events(events)
	}
	tr, err := tracking.New(cfg, tracking.Deps{
		Resources: h.Res, Upstream: up, Events: events,
		Publisher: h.NATS.JS, Limiter: h.polls, History: h.history,
	})
	if err != nil {
		h.T.Fatal(err)
	}
	h.mu.Lock()
	h.current = tr
	h.mu.Unlock()
	return tr
}

// runTracker runs tr until the returned stop is called (or the test ends).
func (h *trackHarness) runTracker(tr *tracking.Tracker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = tr.Run(ctx) })
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	h.T.Cleanup(stop)
	return stop
}

// startPipeline runs a pipeline that tracks what it submits through tr,
// with the prior-ISEE gate when gate is set.
func (h *trackHarness) startPipeline(tr *tracking.Tracker, gate bool) {
	h.T.Helper()
	cfg := consumer.Config{Workers: 4, Retry: consumer.RetryPolicy{MinDelay: 100 * time.Millisecond, MaxDelay: time.Second}, ReplayKey: pipetest.ReplayKey,
		Logger: zerolog.New(zerolog.NewTestWriter(h.T)).Level(zerolog.WarnLevel)}
	if h.callbacks != nil {
		cfg.Callback = h.callbacks.Data
	}
	var up consumer.Upstream = h.Client
	if h.submitter != nil {
		up = h.submitter
	}
	d := consumer.Deps{Resources: h.Res, Upstream: up, Schemas: h.schemas, Files: schema.ObjectStoreSource(h.NATS.JS),
		Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS, Limiter: h.submits, Tracker: tr}
	if gate {
		d.Gate = h.history
	}
	p, err := consumer.New(cfg, d)
	if err != nil {
		h.T.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(ctx) })
	h.T.Cleanup(func() { cancel(); wg.Wait() })
}

// waitClosed waits until tracking of a submission is over.
func (h *trackHarness) waitClosed(id string, d time.Duration) *record.Record {
	h.T.Helper()
	var r *record.Record
	pipetest.WaitExplained(h.T, d, "tracking of "+id+" to end", func() bool {
		r = h.Record(id)
		return r != nil && (r.State == record.StateCancelled || r.State == record.StateFailed ||
			(r.State == record.StateCompleted && r.Document != nil && r.Document.Stato == visengine.StateFulfilled))
	}, func() string {
		h.T.Logf("goroutines in the tracker:\n%s", trackerStacks())
		return h.trackingState(r)
	})
	return r
}

// trackerStacks returns the stacks of the goroutines running tracker or
// worker-pool code: where a stuck tracker waits.
func trackerStacks() string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "iseed/tracking.") || strings.Contains(g, "iseed/workpool.") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// trackingState describes where tracking of a submission stands: its
// record, its task and the tracking consumer, for a failure message.
func (h *trackHarness) trackingState(r *record.Record) string {
	if r == nil {
		return "no record"
	}
	ctx := context.Background()
	var b strings.Builder
	fmt.Fprintf(&b, "record state %q, stato %q, request %q, document %v;", r.State, r.StatoRichiesta, r.RequestID, r.Document != nil)
	if m, err := h.Res.Track.GetLastMsgForSubject(ctx, h.Res.Layout.TrackSubject(r.Tenant, r.ID)); err != nil {
		fmt.Fprintf(&b, " task: %v;", err)
	} else {
		fmt.Fprintf(&b, " task seq %d;", m.Sequence)
	}
	if info, err := h.Res.Tracker.Info(ctx); err != nil {
		fmt.Fprintf(&b, " consumer: %v", err)
	} else {
		fmt.Fprintf(&b, " consumer: pending %d, ack pending %d, redelivered %d, waiting %d, last delivered seq %d, ack floor seq %d",
			info.NumPending, info.NumAckPending, info.NumRedelivered, info.NumWaiting, info.Delivered.Stream, info.AckFloor.Stream)
	}
	if n, last := h.NATS.AsyncErrors(); n > 0 {
		fmt.Fprintf(&b, "; %d asynchronous client errors, the last: %s", n, last)
	}
	if r.RequestID != "" {
		if up, err := h.Client.Richiesta(ctx, r.RequestID); err != nil {
			fmt.Fprintf(&b, "; upstream: %v", err)
		} else {
			fmt.Fprintf(&b, "; upstream: %q", up.StatoRichiesta)
		}
	}
	return b.String()
}

// typeCounts counts a submission's events by type.
func (h *trackHarness) typeCounts(id string) map[string]int {
	out := map[string]int{}
	for _, ev := range h.Events(id) {
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

// newKeyring returns a keyring that seals for every tenant to a fresh age
// identity and opens with it, and that identity's keyring alone.
func newKeyring(t *testing.T) *seal.Keyring {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := seal.New(seal.Config{Recipients: []age.Recipient{id.Recipient()}, Identities: []age.Identity{id}})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// documentsBucket is the tenant's documents bucket.
func (h *trackHarness) documentsBucket(tenant string) jetstream.ObjectStore {
	h.T.Helper()
	obs, err := h.NATS.JS.ObjectStore(context.Background(), h.Res.Layout.TenantDocumentsBucket(tenant))
	if err != nil {
		h.T.Fatal(err)
	}
	return obs
}
