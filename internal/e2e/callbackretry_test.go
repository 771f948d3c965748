package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestCallbackRetriedAfterAFailedRefreshIsNotTakenForDone: a callback
// whose re-read fails (here the final document cannot be downloaded yet)
// is answered 503 so that the upstream retries; no retry of it may then be
// answered 200 before a re-read has gone through, or the news waits for a
// poll that callbacks stretch to days.
func TestCallbackRetriedAfterAFailedRefreshIsNotTakenForDone(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 50 * time.Millisecond}, callbacks: true,
		callbackInterval: 2 * time.Second, tracker: tracking.Config{Schedule: []time.Duration{time.Hour}}})
	tr := h.newTracker(nil) // callbacks refresh through it; it does not poll
	reqID := h.openTrackedRequest(tr, "emp-retry")
	pipetest.WaitFor(t, 5*time.Second, "the upstream request to finish", func() bool {
		r, err := h.Client.Richiesta(context.Background(), reqID)
		return err == nil && r.StatoRichiesta == visengine.StateFulfilled
	})
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"GET /documento/{id}": {Next: 1}}})
	secret := h.callbacks.Secret(pipetest.Tenant, "emp-retry")
	if got := h.postCallback("emp-retry", secret); got != http.StatusServiceUnavailable {
		t.Fatalf("callback whose document download fails: got %d, want 503", got)
	}
	retries := 0
	pipetest.WaitFor(t, 10*time.Second, "a retry of the callback to be answered 200", func() bool {
		retries++
		return h.postCallback("emp-retry", secret) == http.StatusOK
	})
	if r := h.Record("emp-retry"); r.State != record.StateCompleted || r.Document == nil || r.Document.Stato != visengine.StateFulfilled {
		t.Errorf("retry %d answered 200 with the record %q (final document stored: %v), want completed with it: the retry was taken for done, not re-read",
			retries, r.State, r.Document != nil && r.Document.Stato == visengine.StateFulfilled)
	}
}
