package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/iseed-dev/iseed/workdays"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// newTrustTracker starts the tracker of the callback-trust tests on a
// track harness (h.current; no pipeline yet): callbacks on, a working day
// passing in 2 s from a Monday morning, its log and metrics kept; clk
// reads the tracker's first polls in working time.
func newTrustTracker(t *testing.T) (h *trackHarness, logs *pipetest.Buffer, reg *prometheus.Registry, clk pollClock) {
	t.Helper()
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	day := 2 * time.Second
	tb := tracking.Timebase{Scale: float64(24*time.Hour) / float64(day), Real: time.Now(), Sim: time.Date(2025, 3, 3, 9, 0, 0, 0, rome)}
	h = newTrackHarness(t, trackSetup{sim: sim.Config{Step: 50 * time.Millisecond}})
	logs, reg = &pipetest.Buffer{}, prometheus.NewRegistry()
	tr, err := tracking.New(tracking.Config{Workers: 2, Timebase: tb, TempDir: t.TempDir(), ReplayKey: pipetest.ReplayKey,
		Polling: tracking.Polling{Callbacks: true, Rand: func() float64 { return 0.5 }}, Logger: zerolog.New(logs).Hook(loggedAt{})},
		tracking.Deps{Resources: h.Res, Upstream: h.Client, Events: publisher.New(h.NATS.JS, publisher.Config{}),
			Publisher: h.NATS.JS, Limiter: h.polls, Metrics: tracking.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	h.current = tr
	h.runTracker(tr)
	cal, err := workdays.New()
	if err != nil {
		t.Fatal(err)
	}
	return h, logs, reg, pollClock{tb: tb, cal: cal}
}

// pollClock reads a first poll's delay, which the tracker logs in real
// time on the accelerated clock, as working time, and tells a stretched
// one from one that is not. The first poll of a request comes half its
// first interval in (the tests' jitter draw is 0.5): 12 working hours
// stretched (1 day × 4 / 4 polls / 2), 3 not, less the working time since
// its submission, while that is under the shortest interval (15 working
// minutes, 21 ms here); past it, as on a loaded machine, a whole first
// interval: 24 hours stretched, 6 not. Between, 9 working hours, lies
// between the two in either case; and in working time a delay that spans
// the simulated weekend (the accelerated clock reaches Friday night 9 s
// in) is no longer than one that does not.
type pollClock struct {
	tb  tracking.Timebase
	cal *workdays.Calendar
}

// loggedAt adds to each line the real instant it was logged at, in
// microseconds since the epoch.
type loggedAt struct{}

func (loggedAt) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Int64("at_us", time.Now().UnixMicro())
}

// between is the working time between a stretched and an unstretched
// first poll.
const between = 9 * time.Hour

// working returns the working time of a real delay that was scheduled at
// the real instant at.
func (c pollClock) working(at time.Time, delay time.Duration) time.Duration {
	return c.cal.WorkingTime(c.tb.At(at), c.tb.At(at.Add(delay)))
}

// nowhere is callbacks to a public URL where nothing listens: none arrives.
func nowhere(t *testing.T, h *trackHarness) *tracking.Callbacks {
	t.Helper()
	u, _ := url.Parse("http://127.0.0.1:1")
	cb, err := tracking.NewCallbacks(tracking.CallbackConfig{PublicURL: u, Key: bytes.Repeat([]byte("c"), 32)}, refresherFunc(h.refresh))
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

// TestLostCallbacksStopStretchingPolls: callbacks are configured (every
// submission carries callback_data) but point where nothing listens, so
// none arrives and only polls find the requests done. After that happened
// to three requests in more than an hour without a genuine callback, the
// next request's first poll is scheduled unstretched; a genuine callback
// makes the tracker stretch again.
func TestLostCallbacksStopStretchingPolls(t *testing.T) {
	h, logs, reg, clk := newTrustTracker(t)
	h.callbacks = nowhere(t, h) // every callback is lost
	tr := h.current
	h.startPipeline(tr, false)

	if got := gauge(t, reg, "iseed_callbacks_trusted"); got != 1 {
		t.Errorf("iseed_callbacks_trusted at the start: got %v, want 1", got)
	}
	for _, id := range []string{"emp-lost-1", "emp-lost-2", "emp-lost-3"} {
		h.Publish(pipetest.Submission(id, pipetest.ValidFields("Mario")), nil)
	}
	for _, id := range []string{"emp-lost-1", "emp-lost-2", "emp-lost-3"} {
		if d := clk.working(firstPollDelay(t, logs, id)); d < between {
			t.Errorf("%s, before any poll found news: first poll in %v of working time, want stretched, over %v", id, d, between)
		}
		h.waitClosed(id, 10*time.Second)
	}
	pipetest.WaitFor(t, 5*time.Second, "the tracking tasks to be acknowledged", func() bool { return h.openTasks() == 0 })
	if got := gauge(t, reg, "iseed_callbacks_trusted"); got != 0 {
		t.Errorf("iseed_callbacks_trusted after lost callbacks: got %v, want 0", got)
	}

	h.Publish(pipetest.Submission("emp-lost-4", pipetest.ValidFields("Mario")), nil)
	if d := clk.working(firstPollDelay(t, logs, "emp-lost-4")); d >= between {
		t.Errorf("after callbacks looked lost: first poll in %v of working time, want unstretched, under %v", d, between)
	}
	if n := strings.Count(logs.String(), "callbacks look lost"); n != 1 {
		t.Errorf("warnings that callbacks look lost: got %d, want 1", n)
	}

	// A genuine callback (its secret verified) refreshes through the tracker.
	if err := tr.Refresh(context.Background(), pipetest.Tenant, "emp-lost-4"); err != nil {
		t.Fatal(err)
	}
	if got := gauge(t, reg, "iseed_callbacks_trusted"); got != 1 {
		t.Errorf("iseed_callbacks_trusted after a genuine callback: got %v, want 1", got)
	}
	h.Publish(pipetest.Submission("emp-lost-5", pipetest.ValidFields("Mario")), nil)
	if d := clk.working(firstPollDelay(t, logs, "emp-lost-5")); d < between {
		t.Errorf("after a genuine callback: first poll in %v of working time, want stretched, over %v", d, between)
	}
}

// firstPollDelay waits for the tracker to schedule the first poll of a
// submission and returns when (its log line's real instant) and the real
// delay scheduled.
func firstPollDelay(t *testing.T, logs *pipetest.Buffer, id string) (at time.Time, delay time.Duration) {
	t.Helper()
	var ms float64
	pipetest.WaitFor(t, 10*time.Second, "the first poll of "+id+" to be scheduled", func() bool {
		for l := range strings.Lines(logs.String()) {
			var line struct {
				Message, Submission string
				Delivered           int
				NextPoll            float64 `json:"next_poll_ms"`
				At                  int64   `json:"at_us"`
			}
			if json.Unmarshal([]byte(l), &line) == nil && line.Message == "request polled" && line.Submission == id && line.Delivered == 1 {
				ms, at = line.NextPoll, time.UnixMicro(line.At)
				return true
			}
		}
		return false
	})
	return at, time.Duration(ms * float64(time.Millisecond))
}

// gauge reads an unlabelled gauge or counter (-1 when there is none).
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			if c := mf.GetMetric()[0].GetCounter(); c != nil {
				return c.GetValue()
			}
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Errorf("no gauge or counter %s", name)
	return -1
}
