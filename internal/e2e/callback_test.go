package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

func TestCallbackBeatsSlowPolling(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 300 * time.Millisecond}, callbacks: true,
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{time.Minute}}})
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	start := time.Now()
	h.Publish(pipetest.Submission("emp-cb", pipetest.ValidFields("Mario")), nil)
	r := h.waitClosed("emp-cb", 10*time.Second)
	// The upstream finishes 600 ms after the POST; one poll a minute could
	// not have seen it.
	if took := time.Since(start); r.State != record.StateCompleted || took > 3*time.Second {
		t.Errorf("got %q after %s, want completed within 3s", r.State, took)
	}
	h.checkLifeEvents("emp-cb")
	if h.Counter("callbacks") == 0 {
		t.Error("the simulator delivered no callback")
	}
}

func TestForgedCallbackChangesNothing(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 50 * time.Millisecond}, callbacks: true,
		tracker: tracking.Config{Schedule: []time.Duration{time.Minute}}})
	tr := h.newTracker(nil) // callbacks refresh through it; it does not poll
	reqID := h.openTrackedRequest(tr, "emp-quiet")
	pipetest.WaitFor(t, 5*time.Second, "the upstream request to finish", func() bool {
		r, err := h.Client.Richiesta(context.Background(), reqID)
		return err == nil && r.StatoRichiesta == visengine.StateFulfilled
	})
	store := record.NewStore(h.Res.Records)
	_, rev, _ := store.Get(context.Background(), pipetest.Tenant, "emp-quiet")
	gets := h.Counter("GET /richiesta/{id}")
	forged := []struct{ name, id, secret string }{
		{"wrong secret", "emp-quiet", strings.Repeat("0", 64)},
		{"no secret", "emp-quiet", ""},
		{"another submission's secret", "emp-quiet", h.callbacks.Secret(pipetest.Tenant, "emp-other")},
	}
	for _, f := range forged {
		t.Run(f.name, func(t *testing.T) {
			if got := h.postCallback(f.id, f.secret); got != http.StatusForbidden {
				t.Errorf("status: got %d, want 403", got)
			}
		})
	}
	_, after, _ := store.Get(context.Background(), pipetest.Tenant, "emp-quiet")
	if after != rev || h.Counter("GET /richiesta/{id}") != gets {
		t.Fatalf("a forged callback changed something: revision %d → %d, GETs %d → %d", rev, after, gets, h.Counter("GET /richiesta/{id}"))
	}
	if got := h.postCallback("emp-quiet", h.callbacks.Secret(pipetest.Tenant, "emp-quiet")); got != http.StatusOK {
		t.Fatalf("genuine callback: got %d, want 200", got)
	}
	if r := h.Record("emp-quiet"); r.State != record.StateCompleted || r.Document == nil {
		t.Errorf("after a genuine callback: got %q (document %v), want completed with a document", r.State, r.Document != nil)
	}
}

// postCallback posts what the upstream would, with the given secret.
func (h *trackHarness) postCallback(id, secret string) int {
	h.T.Helper()
	body := fmt.Sprintf(`{"data":{"_id":"x","stato_richiesta":"Visura evasa","callback_data":{"method":"JSON","data":{"secret":%q}}}}`, secret)
	resp, err := http.Post(h.cbURL+"/callbacks/"+pipetest.Tenant+"/"+id, "application/json", strings.NewReader(body))
	if err != nil {
		h.T.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// openRequest creates an upstream ISEE request directly (no callback, no
// tracking task) and a submitted record for it, as the pipeline would.
func (h *trackHarness) openRequest(ctx context.Context, id string) string {
	h.T.Helper()
	svc, err := h.schemas.Service(ctx, "ISEE")
	if err != nil {
		h.T.Fatal(err)
	}
	prep, err := svc.Validate(schema.Input{Fields: pipetest.ValidFields("Mario")}, schema.Limits{})
	if err != nil {
		h.T.Fatal(err)
	}
	return h.openRequestWith(ctx, id, svc, prep)
}

// openTrackedRequest is openRequest plus its tracking task, as the
// pipeline leaves a submission it announced: callbacks refresh only a
// tracked request.
func (h *trackHarness) openTrackedRequest(tr *tracking.Tracker, id string) string {
	h.T.Helper()
	ctx := context.Background()
	reqID := h.openRequest(ctx, id)
	if err := tr.Track(ctx, h.Record(id)); err != nil {
		h.T.Fatal(err)
	}
	return reqID
}

func (h *trackHarness) openRequestWith(ctx context.Context, id string, svc *schema.Service, prep *schema.Prepared) string {
	r, err := h.Client.CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: prep.HashVisura, JSONVisura: prep.JSONVisura})
	if err != nil {
		h.T.Error(err)
		return ""
	}
	now := time.Now()
	rec := &record.Record{Tenant: pipetest.Tenant, ID: id, Generation: 1, State: record.StateSubmitted, Service: svc.Name,
		ServiceHash: svc.Hash, RequestID: r.ID, StatoRichiesta: r.StatoRichiesta, Created: now, Updated: now,
		Timeline: []record.Transition{{State: record.StateSubmitted, At: now}}}
	if _, err := record.NewStore(h.Res.Records).Create(ctx, rec); err != nil {
		h.T.Error(err)
	}
	return r.ID
}

// openRequests makes n open requests with records, in parallel, and
// returns the records.
func (h *trackHarness) openRequests(ctx context.Context, n int) []*record.Record {
	h.T.Helper()
	svc, err := h.schemas.Service(ctx, "ISEE")
	if err != nil {
		h.T.Fatal(err)
	}
	prep, err := svc.Validate(schema.Input{Fields: pipetest.ValidFields("Mario")}, schema.Limits{})
	if err != nil {
		h.T.Fatal(err)
	}
	ids := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range ids {
				h.openRequestWith(ctx, fmt.Sprintf("load-%05d", i), svc, prep)
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	out := make([]*record.Record, 0, n)
	for i := range n {
		if r := h.Record(fmt.Sprintf("load-%05d", i)); r != nil {
			out = append(out, r)
		}
	}
	return out
}

// leakedCallback opens a tracked request, emp-leak, whose callbacks refresh
// through a tracker that does not poll, and returns its secret and the
// upstream reads of requests so far.
func leakedCallback(t *testing.T) (h *trackHarness, secret string, gets int) {
	h = newTrackHarness(t, trackSetup{sim: sim.Config{Step: time.Hour}, callbacks: true,
		tracker: tracking.Config{Schedule: []time.Duration{time.Minute}}})
	tr := h.newTracker(nil)
	h.openTrackedRequest(tr, "emp-leak")
	return h, h.callbacks.Secret(pipetest.Tenant, "emp-leak"), h.Counter("GET /richiesta/{id}")
}

// TestReplayedCallbackBodyIsCheap: a genuine callback body that leaked and
// is posted again and again re-reads the request at most once per interval
// while it is open, and never once tracking is over.
func TestReplayedCallbackBodyIsCheap(t *testing.T) {
	h, secret, gets := leakedCallback(t)
	for range 50 {
		if got := h.postCallback("emp-leak", secret); got != http.StatusOK {
			t.Fatalf("status: got %d, want 200", got)
		}
	}
	if got := h.Counter("GET /richiesta/{id}") - gets; got != 1 {
		t.Errorf("upstream reads for 50 replays within the interval: got %d, want 1", got)
	}
}

// postCallbackState posts what the upstream would, announcing stato.
func (h *trackHarness) postCallbackState(id, secret, stato string) int {
	h.T.Helper()
	body := fmt.Sprintf(`{"data":{"_id":"x","stato_richiesta":%q,"callback_data":{"method":"JSON","data":{"secret":%q}}}}`, stato, secret)
	resp, err := http.Post(h.cbURL+"/callbacks/"+pipetest.Tenant+"/"+id, "application/json", strings.NewReader(body))
	if err != nil {
		h.T.Error(err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReplayedCallbackWithAnyStateIsCheap: a leaked body replayed with
// made-up states, and with the API's states spelled every way, re-reads
// the request at most once per interval for each of the five states and
// once for all the others.
func TestReplayedCallbackWithAnyStateIsCheap(t *testing.T) {
	h, secret, gets := leakedCallback(t)
	var states []string
	for i := range 30 {
		states = append(states, fmt.Sprintf("stato inventato %d", i))
	}
	for _, s := range []string{visengine.StateSearching, visengine.StateInProgress, visengine.StateDataReady,
		visengine.StateFulfilled, visengine.StateCancelled} {
		states = append(states, s, strings.ToUpper(s), strings.ReplaceAll(strings.ToLower(s), " ", "_"))
	}
	for _, s := range states {
		if got := h.postCallbackState("emp-leak", secret, s); got != http.StatusOK {
			t.Fatalf("state %q: got %d, want 200", s, got)
		}
	}
	if got := h.Counter("GET /richiesta/{id}") - gets; got > 6 {
		t.Errorf("upstream reads for %d replays with varied states: got %d, want at most 6", len(states), got)
	}
}

// gatedUpstream holds every read of one request until released.
type gatedUpstream struct {
	tracking.Upstream
	id      atomic.Pointer[string]
	release chan struct{}
	held    atomic.Int32 // reads of the request being held now
	reads   atomic.Int32 // reads of the request
}

func (g *gatedUpstream) Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error) {
	if p := g.id.Load(); p != nil && *p == id {
		g.reads.Add(1)
		g.held.Add(1)
		defer g.held.Add(-1)
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Upstream.Richiesta(ctx, id)
}

// TestCallbackFloodSparesOtherSubmissions: a leaked body posted many times
// at once, announcing every state, re-reads its request once, and takes no
// refresh another submission's genuine callback needs.
func TestCallbackFloodSparesOtherSubmissions(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: time.Hour}, callbacks: true,
		tracker: tracking.Config{Schedule: []time.Duration{time.Minute}}})
	gate := &gatedUpstream{Upstream: h.Client, release: make(chan struct{})}
	h.upstream = gate
	tr := h.newTracker(nil) // callbacks refresh through it; it does not poll
	leaked := h.openTrackedRequest(tr, "emp-leak")
	h.openTrackedRequest(tr, "emp-other")
	gate.id.Store(&leaked)
	secret := h.callbacks.Secret(pipetest.Tenant, "emp-leak")
	states := []string{visengine.StateSearching, visengine.StateInProgress, visengine.StateDataReady,
		visengine.StateFulfilled, visengine.StateCancelled, "stato inventato"}
	const flood = 100
	var answered atomic.Int32
	var wg sync.WaitGroup
	for i := range flood {
		wg.Go(func() {
			h.postCallbackState("emp-leak", secret, states[i%len(states)])
			answered.Add(1)
		})
	}
	released := false
	defer func() {
		if !released {
			close(gate.release)
		}
		wg.Wait()
	}()
	pipetest.WaitFor(t, 10*time.Second, "every flooding callback to be answered or reading", func() bool {
		return int(answered.Load()+gate.held.Load()) == flood
	})
	other := h.callbacks.Secret(pipetest.Tenant, "emp-other")
	if got := h.postCallbackState("emp-other", other, visengine.StateInProgress); got != http.StatusOK {
		t.Errorf("another submission's genuine callback during the flood: got %d, want 200", got)
	}
	close(gate.release)
	released = true
	wg.Wait()
	if got := gate.reads.Load(); got != 1 {
		t.Errorf("upstream reads of the flooded request: got %d, want 1", got)
	}
}
