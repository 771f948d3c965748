package consumer_test

import (
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/prometheus/client_golang/prometheus"
)

// TestWaitIsObservedFromPublication: iseed_submission_wait_seconds
// observes, once per request recorded, the time from the submission's
// publication (its stream timestamp) until its request was recorded, the
// wait for the upstream budget's token included: what a producer waits
// for its submitted event, behind a backlog or not.
func TestWaitIsObservedFromPublication(t *testing.T) {
	t.Parallel()
	const held = 400 * time.Millisecond
	start := time.Now()
	h, lim, reg, _ := tokenHeld(t, "emp-wait")
	waiting := time.Now() // the submission was published before this
	pipetest.WaitFor(t, 10*time.Second, "the token held a while", func() bool { return time.Since(waiting) >= held })
	close(lim.release)
	h.WaitState("emp-wait", record.StateSubmitted)
	total := time.Since(start)
	var count uint64
	var sum float64
	pipetest.WaitFor(t, 10*time.Second, "the wait observed", func() bool {
		count, sum = histogram(t, reg, "iseed_submission_wait_seconds")
		return count > 0
	})
	if count != 1 {
		t.Errorf("waits observed: %d, want 1", count)
	}
	if got := time.Duration(sum * float64(time.Second)); got < held || got > total {
		t.Errorf("wait observed: %s; want between the token's %s and the %s since before publication", got, held, total)
	}
}

// histogram returns the sample count and sum of the histogram name in reg
// (0, 0 when it has none).
func histogram(t *testing.T, reg *prometheus.Registry, name string) (uint64, float64) {
	t.Helper()
	hist := single(t, reg, name).GetHistogram() // nil-safe: 0, 0 when none
	return hist.GetSampleCount(), hist.GetSampleSum()
}
