package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestFinalDocumentBacksOffWhateverTheTimestamps: timestamp_stati that
// put Visura evasa in the future (a unit mistaken, a clock ahead) say
// nothing of how long the final document has been awaited: its retries
// must back off all the same, not stay at the retry delay until the
// maximum age.
func TestFinalDocumentBacksOffWhateverTheTimestamps(t *testing.T) {
	s := trackSetup{
		sim: sim.Config{
			Lifetime: func(string, time.Time, uint64) (time.Duration, time.Duration) { return 0, time.Nanosecond },
			Faults:   sim.Faults{Errors: map[string]sim.ErrorFault{"GET /documento/{id}": {Rate: 1, Status: 500}}},
		},
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{50 * time.Millisecond, time.Hour}},
	}
	h := newTrackHarness(t, s)
	up := aheadRequests{&timedDocuments{Client: h.Client}}
	h.upstream = up
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-ahead", pipetest.ValidFields("Mario")), nil)
	const calls = 6
	pipetest.WaitFor(t, 60*time.Second, fmt.Sprintf("%d downloads of the final document", calls), func() bool { return len(up.times()) >= calls })
	submitted := h.Record("emp-ahead").SubmittedAt()
	ts := up.times()
	var gaps []string
	bad := false
	for i := 1; i < calls; i++ {
		gap, since := ts[i].Sub(ts[i-1]), ts[i-1].Sub(submitted)
		gaps = append(gaps, fmt.Sprintf("%v after %v since the submission", gap.Round(time.Millisecond), since.Round(time.Millisecond)))
		if i >= 2 && gap < since/2 {
			bad = true
		}
	}
	if bad {
		t.Errorf("a final document the upstream fails on, of a request fulfilled in the future by its timestamp_stati, was asked again sooner than half the time since its submission: %s",
			strings.Join(gaps, "; "))
	}
}
