package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/prometheus/client_golang/prometheus"
)

// TestCallbackThatReadsNothingIsNotCountedRefreshed: a genuine callback
// about a request that is not tracked reads nothing upstream: no longer
// tracked (completed), it is answered 200 and counts in
// iseed_callbacks_total as not_tracked; not tracked yet, and still not
// after the wait, 503 (so that the upstream retries), counted not_yet. It
// used to count as refreshed, and a dashboard showed re-reads that never
// happened.
func TestCallbackThatReadsNothingIsNotCountedRefreshed(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 50 * time.Millisecond},
		tracker: tracking.Config{Schedule: []time.Duration{time.Minute}}})
	tr := h.newTracker(nil) // callbacks refresh through it; it does not poll
	reg := prometheus.NewRegistry()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	cb, err := tracking.NewCallbacks(tracking.CallbackConfig{PublicURL: u, Key: bytes.Repeat([]byte("c"), 32),
		NotYetWait: 200 * time.Millisecond, Metrics: tracking.NewMetrics(reg)}, refresherFunc(h.refresh))
	if err != nil {
		t.Fatal(err)
	}
	cb.Register(mux)
	post := func(id, stato string) int {
		t.Helper()
		body := fmt.Sprintf(`{"data":{"_id":"x","stato_richiesta":%q,"callback_data":{"method":"JSON","data":{"secret":%q}}}}`,
			stato, cb.Secret(pipetest.Tenant, id))
		resp, err := http.Post(srv.URL+"/callbacks/"+pipetest.Tenant+"/"+id, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	ctx := context.Background()
	want := map[string]float64{}
	check := func(what, id, stato, outcome string, reads int) {
		t.Helper()
		gets := h.Counter("GET /richiesta/{id}")
		status := http.StatusOK
		if outcome == "not_yet" {
			status = http.StatusServiceUnavailable
		}
		if got := post(id, stato); got != status {
			t.Errorf("%s: got %d, want %d", what, got, status)
		}
		if got := h.Counter("GET /richiesta/{id}") - gets; got != reads {
			t.Errorf("%s: %d upstream reads, want %d", what, got, reads)
		}
		want[outcome]++
		if got := outcomes(t, reg); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: iseed_callbacks_total got %v, want %v", what, got, want)
		}
	}

	h.openRequest(ctx, "emp-untracked") // submitted, its tracking task not yet stored
	check("a request not tracked yet", "emp-untracked", visengine.StateInProgress, "not_yet", 0)

	reqID := h.openTrackedRequest(tr, "emp-done")
	pipetest.WaitFor(t, 5*time.Second, "the upstream request to finish", func() bool {
		r, err := h.Client.Richiesta(ctx, reqID)
		return err == nil && r.StatoRichiesta == visengine.StateFulfilled
	})
	check("a tracked request", "emp-done", visengine.StateFulfilled, "refreshed", 1)
	if r := h.Record("emp-done"); r.State != record.StateCompleted {
		t.Fatalf("after a callback: got %q, want completed", r.State)
	}
	check("a completed request", "emp-done", visengine.StateCancelled, "not_tracked", 0)
}

// outcomes is iseed_callbacks_total by outcome, the outcomes counted
// so far only.
func outcomes(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "iseed_callbacks_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				out[m.GetLabel()[0].GetValue()] = v
			}
		}
	}
	return out
}
