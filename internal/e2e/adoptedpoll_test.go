package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestAdoptedRequestIsPolledAtOnce: the POST's answer never comes (the
// upstream creates the request and hangs), the request goes on to Visura
// evasa within a second, calling back at each step while iseed's record
// has no request yet, and reconciliation adopts it seconds later. The
// callbacks found nothing to re-read (each refused at once, its request
// not tracked yet: the wait for it is cut to nothing here, so that the
// upstream's retries are spent before the adoption), and the first
// scheduled poll is an hour away: the adopted request's first delivery
// polls at once, and the submission completes with its document. Before,
// it stayed submitted for the hour
// (TestCallbackEchoingLargeFilesBeatsSlowPolling failed so once, its
// POST's answer too slow on a loaded machine).
func TestAdoptedRequestIsPolledAtOnce(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 50 * time.Millisecond,
		Faults: sim.Faults{CommitThenFail: sim.CommitThenFail{Mode: sim.ModeHang, Next: 1}}}, callbacks: true, callbackNotYetWait: time.Nanosecond,
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{time.Hour}}})
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-lost", pipetest.ValidFields("Mario")), nil)
	var r *record.Record
	pipetest.WaitExplained(t, time.Minute, "the adopted request to complete", func() bool {
		r = h.Record("emp-lost")
		return r != nil && r.State == record.StateCompleted && r.Document != nil
	}, func() string {
		return h.trackingState(r)
	})
	var note string
	for _, tr := range r.Timeline {
		if tr.State == record.StateSubmitted {
			note = tr.Note
		}
	}
	if !strings.HasPrefix(note, "reconciled") {
		t.Errorf("submitted transition's note %q, want the request adopted by reconciliation", note)
	}
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POST /richiesta calls: %d, want 1", got)
	}
	// Answered or refused (a callback for a request not tracked yet waits,
	// then gets 503: not_yet).
	if got := h.Counter("callbacks") + h.Counter("callback_failures"); got == 0 {
		t.Errorf("no callbacks: the upstream's news must come before the adoption")
	}
}
