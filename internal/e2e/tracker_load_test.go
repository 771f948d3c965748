package e2e_test

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
	"golang.org/x/time/rate"
)

// TestTrackManyOpenRequests tracks many open requests at once (2,000 by
// default; ISEED_TRACK_LOAD=10000 for the figure, which also logs
// the process's RSS): the goroutine count stays that of the worker pool,
// and the GETs per window never exceed what the shared limiter allows.
func TestTrackManyOpenRequests(t *testing.T) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("ISEED_TRACK_LOAD")); err == nil && v > 0 {
		n = v
	}
	const (
		workers = 8
		perSec  = 300
		burst   = 10
	)
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: time.Hour, Wallet: 1e9}, limiter: rate.NewLimiter(perSec, burst),
		tracker: tracking.Config{Workers: workers, Schedule: []time.Duration{100 * time.Millisecond}}})
	ctx := context.Background()
	tr := h.newTracker(nil)
	for _, r := range h.openRequests(ctx, n) {
		if err := tr.Track(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.openTasks(); got != uint64(n) {
		t.Fatalf("tracking tasks: got %d, want %d", got, n)
	}
	rssBefore := rssKiB()
	base := runtime.NumGoroutine()
	stop := h.runTracker(tr)
	pipetest.WaitFor(t, 60*time.Second, "polling to be under way", func() bool { return h.Counter("GET /richiesta/{id}") >= 4*burst })
	peak, maxRate, total := h.measurePolls(t, 6, 500*time.Millisecond, perSec, burst, workers)
	stop()
	if extra := peak - base; extra > workers+40 {
		t.Errorf("goroutines: %d more while tracking %d requests, want at most the %d workers plus a constant", extra, n, workers)
	}
	if total < perSec { // on a starved machine the limiter may not have been the bottleneck
		t.Logf("only %d polls in 3s: the rate bound was not exercised at its limit", total)
	}
	t.Logf("%d open requests: %d polls, peak %.0f GET/s (limit %d/s, burst %d), goroutines %d → peak %d, RSS %d → %d KiB",
		n, total, maxRate, perSec, burst, base, peak, rssBefore, rssKiB())
}

// measurePolls samples the upstream's GET counter over windows (this is a
// rate measurement, so it sleeps by design) and fails when a window saw
// more GETs than the limiter allows. It returns the peak goroutine count,
// the highest observed rate and the total polls.
func (h *trackHarness) measurePolls(t *testing.T, windows int, window time.Duration, perSec, burst, slack int) (int, float64, int) {
	peak, maxRate, total := 0, 0.0, 0
	last, lastAt := h.Counter("GET /richiesta/{id}"), time.Now()
	for i := range windows {
		time.Sleep(window)
		now, at := h.Counter("GET /richiesta/{id}"), time.Now()
		got, el := now-last, at.Sub(lastAt)
		// GETs granted at the end of a window may arrive in the next: the
		// workers' in-flight calls are the slack.
		allowed := int(float64(perSec)*el.Seconds()) + burst + slack
		if i > 0 && got > allowed { // the first window includes the burst of a fresh limiter
			t.Errorf("window %d: %d GETs in %s, the limiter allows %d", i, got, el, allowed)
		}
		maxRate = max(maxRate, float64(got)/el.Seconds())
		total += got
		peak = max(peak, runtime.NumGoroutine())
		last, lastAt = now, at
	}
	return peak, maxRate, total
}

// rssKiB reads the process's resident set size (Linux), 0 elsewhere.
func rssKiB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
