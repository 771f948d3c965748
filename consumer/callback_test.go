package consumer_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

func TestCallbackBeatsSlowPolling(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 300 * time.Millisecond}, callbacks: true,
		tracker: consumer.TrackerConfig{Workers: 2, Schedule: []time.Duration{time.Minute}}})
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	start := time.Now()
	h.publish(submission("emp-cb", validFields("Mario")), nil)
	r := h.waitClosed("emp-cb", 10*time.Second)
	// The upstream finishes 600 ms after the POST; one poll a minute could
	// not have seen it.
	if took := time.Since(start); r.State != consumer.StateCompleted || took > 3*time.Second {
		t.Errorf("got %q after %s, want completed within 3s", r.State, took)
	}
	h.checkLifeEvents("emp-cb")
	if h.counter("callbacks") == 0 {
		t.Error("the simulator delivered no callback")
	}
}

func TestForgedCallbackChangesNothing(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 50 * time.Millisecond}, callbacks: true,
		tracker: consumer.TrackerConfig{Schedule: []time.Duration{time.Minute}}})
	h.newTracker(nil) // callbacks refresh through it; it does not poll
	reqID := h.openRequest(context.Background(), "emp-quiet")
	waitFor(t, 5*time.Second, "the upstream request to finish", func() bool {
		r, err := h.client.Richiesta(context.Background(), reqID)
		return err == nil && r.StatoRichiesta == consumer.StatoVisuraEvasa
	})
	store := consumer.NewStore(h.res.Records)
	_, rev, _ := store.Get(context.Background(), tenant, "emp-quiet")
	gets := h.counter("GET /richiesta/{id}")
	forged := []struct{ name, id, secret string }{
		{"wrong secret", "emp-quiet", strings.Repeat("0", 64)},
		{"no secret", "emp-quiet", ""},
		{"another submission's secret", "emp-quiet", h.callbacks.Secret(tenant, "emp-other")},
	}
	for _, f := range forged {
		t.Run(f.name, func(t *testing.T) {
			if got := h.postCallback(f.id, f.secret); got != http.StatusForbidden {
				t.Errorf("status: got %d, want 403", got)
			}
		})
	}
	_, after, _ := store.Get(context.Background(), tenant, "emp-quiet")
	if after != rev || h.counter("GET /richiesta/{id}") != gets {
		t.Fatalf("a forged callback changed something: revision %d → %d, GETs %d → %d", rev, after, gets, h.counter("GET /richiesta/{id}"))
	}
	if got := h.postCallback("emp-quiet", h.callbacks.Secret(tenant, "emp-quiet")); got != http.StatusNoContent {
		t.Fatalf("genuine callback: got %d, want 204", got)
	}
	if r := h.record("emp-quiet"); r.State != consumer.StateCompleted || r.Document == nil {
		t.Errorf("after a genuine callback: got %q (document %v), want completed with a document", r.State, r.Document != nil)
	}
}

// postCallback posts what the upstream would, with the given secret.
func (h *trackHarness) postCallback(id, secret string) int {
	h.t.Helper()
	body := fmt.Sprintf(`{"data":{"_id":"x","stato_richiesta":"Visura evasa","callback_data":{"method":"JSON","data":{"secret":%q}}}}`, secret)
	resp, err := http.Post(h.cbURL+"/callbacks/"+tenant+"/"+id, "application/json", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// openRequest creates an upstream ISEE request directly (no callback, no
// tracking task) and a submitted record for it, as the pipeline would.
func (h *trackHarness) openRequest(ctx context.Context, id string) string {
	h.t.Helper()
	svc, err := h.schemas.Service(ctx, "ISEE")
	if err != nil {
		h.t.Fatal(err)
	}
	prep, err := svc.Validate(schema.Input{Fields: validFields("Mario")}, schema.Limits{})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.openRequestWith(ctx, id, svc, prep)
}

func (h *trackHarness) openRequestWith(ctx context.Context, id string, svc *schema.Service, prep *schema.Prepared) string {
	r, err := h.client.CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: prep.HashVisura, JSONVisura: prep.JSONVisura})
	if err != nil {
		h.t.Error(err)
		return ""
	}
	now := time.Now()
	rec := &consumer.Record{Tenant: tenant, ID: id, Generation: 1, State: consumer.StateSubmitted, Service: svc.Name,
		ServiceHash: svc.Hash, RequestID: r.ID, StatoRichiesta: r.StatoRichiesta, Created: now, Updated: now,
		Timeline: []consumer.Transition{{State: consumer.StateSubmitted, At: now}}}
	if _, err := consumer.NewStore(h.res.Records).Create(ctx, rec); err != nil {
		h.t.Error(err)
	}
	return r.ID
}

// openRequests makes n open requests with records, in parallel, and
// returns the records.
func (h *trackHarness) openRequests(ctx context.Context, n int) []*consumer.Record {
	h.t.Helper()
	svc, err := h.schemas.Service(ctx, "ISEE")
	if err != nil {
		h.t.Fatal(err)
	}
	prep, err := svc.Validate(schema.Input{Fields: validFields("Mario")}, schema.Limits{})
	if err != nil {
		h.t.Fatal(err)
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
	out := make([]*consumer.Record, 0, n)
	for i := range n {
		if r := h.record(fmt.Sprintf("load-%05d", i)); r != nil {
			out = append(out, r)
		}
	}
	return out
}
