package e2e_test

import (
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestPublishedProfileEndToEnd runs the first day of a real deployment on
// the simulator's published profile, whatever ISEED_SIM_PROFILE says: the
// upstream echoes nothing ("ricerche": []) and the mandate is "null": false.
// An ISEE is submitted without the mandate (validazione accepts it), tracked
// to its document, and an ISEE CORRENTE for the same tax code is then
// accepted (the history comes from what iseed sent, not from an echo); a 730
// without the mandate is submitted too. Each is one paid POST.
func TestPublishedProfileEndToEnd(t *testing.T) {
	s := fastTracking(50 * time.Millisecond)
	s.sim.Profile = sim.ProfilePublished
	h := newTrackHarness(t, s)
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, true)

	f := pipetest.ValidFields("Mario") // no "$7": the mandate is left out
	h.Publish(submissionFor("isee-1", "ISEE", f), nil)
	if r := h.waitClosed("isee-1", 20*time.Second); r.State != record.StateCompleted || r.PersonKey == "" || r.Document == nil {
		t.Fatalf("ISEE without the mandate: got %q, person key %q, document %v; want %q with both", r.State, r.PersonKey, r.Document, record.StateCompleted)
	}
	h.checkLifeEvents("isee-1")
	req, err := h.Client.Richiesta(t.Context(), h.Record("isee-1").RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Ricerche) != 0 {
		t.Fatalf("published profile: the request echoes %d ricerche, want none (the test would not test the no-echo case)", len(req.Ricerche))
	}

	h.Publish(submissionFor("cur-1", "ISEE CORRENTE", f), nil)
	h.Publish(submissionFor("730-1", "730 Singolo", f), nil)
	for _, id := range []string{"cur-1", "730-1"} {
		pipetest.WaitFor(t, 10*time.Second, id+" to be submitted", func() bool {
			r := h.Record(id)
			return r != nil && r.RequestID != ""
		})
		if r := h.Record(id); len(r.Errors) != 0 {
			t.Errorf("%s: problems %+v, want none", id, r.Errors)
		}
	}
	if got := h.Counter("POST /richiesta"); got != 3 {
		t.Errorf("POST /richiesta: got %d, want 3 (one per submission)", got)
	}
}
