package e2e_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestCallbackEchoingLargeFilesBeatsSlowPolling: an upstream that echoes
// the input in its callbacks, scans of documents included, posts bodies
// far larger than what iseed keeps of them; such a callback still makes
// iseed re-read the request at once, as one echoing nothing does.
func TestCallbackEchoingLargeFilesBeatsSlowPolling(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: 300 * time.Millisecond, Echo: sim.EchoFiles}, callbacks: true,
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{time.Hour}}})
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	fields := pipetest.ValidFields("Mario")
	scan := base64.StdEncoding.EncodeToString(append([]byte("%PDF-1.4\n"), make([]byte, 512<<10)...)) // a 512 KiB scan
	fields["Copia documento d'identità"] = "carta.pdf|data:application/pdf;base64," + scan
	start := time.Now()
	h.Publish(pipetest.Submission("emp-scan", fields), nil)
	// The upstream finishes 600 ms after the POST; one poll an hour could
	// not see it within the minute (that much, for a loaded machine: once,
	// under a load of 6, the callback's news took over 10 s to land).
	for time.Since(start) < time.Minute {
		if r := h.Record("emp-scan"); r != nil && r.State == record.StateCompleted {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("not completed within a minute: callbacks delivered %d, refused %d", h.Counter("callbacks"), h.Counter("callback_failures"))
}
