package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/ratelimit"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
)

// TestPollsKeepToTheBudgetSubmissionsFirst runs what a deployment of three
// replicas does when polls want more than the budget: two trackers and a
// pipeline, each with its own ratelimit.Limiter on the one shared bucket
// (5 calls/s, burst 3, reserve 2), 200 open requests polled every 50 ms
// (about 4,000 polls/s wanted), and a submission every 500 ms meanwhile. In
// every second the upstream sees no more than the budget; polls take what
// submissions leave; and no submission waits for a poll: its token comes
// at once (a round of KV operations), where waiting in line behind the
// eight trackers' polls would take more than a second.
func TestPollsKeepToTheBudgetSubmissionsFirst(t *testing.T) {
	const (
		rps, burst, reserve = 5, 3, 2
		submissions         = 8
		every               = 500 * time.Millisecond
	)
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: time.Hour, Wallet: 1e9},
		tracker: tracking.Config{Workers: 4, Schedule: []time.Duration{50 * time.Millisecond}}})
	ctx := context.Background()
	reqs := h.openRequests(ctx, 200) // before the budget: the upstream requests exist
	replica := func() *ratelimit.Limiter {
		lim, err := ratelimit.New(h.Res.RateLimit, "upstream", ratelimit.Config{Rate: rps, Burst: burst, Reserve: reserve})
		if err != nil {
			t.Fatal(err)
		}
		return lim
	}
	var trackers []*tracking.Tracker
	for range 2 {
		h.polls = replica().For(ratelimit.Poll)
		trackers = append(trackers, h.newTracker(nil))
	}
	pipeline := replica()
	h.submits = pipeline.For(ratelimit.Submission)
	h.startPipeline(trackers[0], false)
	for _, r := range reqs {
		if err := trackers[0].Track(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	submitted := h.watchSubmitted(t)
	for _, tr := range trackers {
		h.runTracker(tr)
	}
	polls := func() int { return h.Counter("GET /richiesta/{id}") + h.Counter("GET /documento/{id}") }
	pipetest.WaitFor(t, 30*time.Second, "polls to use the budget", func() bool { return polls() >= 2*rps })

	calls := func() int { return polls() + h.Counter("POST /richiesta") }
	samples := h.sampleCalls(calls, 100*time.Millisecond, time.Duration(submissions+2)*every)
	published := make([]time.Time, submissions)
	for i := range submissions {
		published[i] = time.Now()
		h.Publish(pipetest.Submission(fmt.Sprintf("emp-%d", i), pipetest.ValidFields("Mario")), nil)
		time.Sleep(every)
	}
	series := <-samples
	checkBudget(t, series, rps, burst)

	var worst time.Duration
	for i := range submissions {
		id := fmt.Sprintf("emp-%d", i)
		var at time.Time
		pipetest.WaitFor(t, 10*time.Second, id+" to be submitted", func() bool { at = submitted(id); return !at.IsZero() })
		worst = max(worst, at.Sub(published[i]))
	}
	s := pipeline.Stats()
	mean := s.Waited[ratelimit.Submission] / time.Duration(max(1, s.Granted[ratelimit.Submission]))
	polled := series[len(series)-1].calls - series[0].calls - submissions
	took := series[len(series)-1].at.Sub(series[0].at)
	t.Logf("%d polls and %d submissions in %s (budget %d/s): submissions waited %s for a token on average; publish to submitted at most %s",
		polled, submissions, took.Round(time.Millisecond), rps, mean.Round(time.Microsecond), worst.Round(time.Millisecond))
	if mean > 250*time.Millisecond {
		t.Errorf("submissions waited %s on average for a token, want at most a few KV rounds (250ms): polls came first", mean)
	}
	if worst > 2*time.Second {
		t.Errorf("a submission took %s from publish to submitted, want under 2s", worst)
	}
	if want := int(0.5 * (rps*took.Seconds() - submissions)); polled < want {
		t.Errorf("polls: got %d in %s, want at least %d: they should take what submissions leave", polled, took, want)
	}
}

// callSample is the upstream's call count at a time.
type callSample struct {
	at    time.Time
	calls int
}

// sampleCalls samples calls() every interval for d (this measures rates,
// so it sleeps by design) and sends the series when done.
func (h *trackHarness) sampleCalls(calls func() int, interval, d time.Duration) <-chan []callSample {
	out := make(chan []callSample, 1)
	var wg sync.WaitGroup
	h.T.Cleanup(wg.Wait)
	wg.Go(func() {
		var series []callSample
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			series = append(series, callSample{time.Now(), calls()})
			time.Sleep(interval)
		}
		out <- append(series, callSample{time.Now(), calls()})
	})
	return out
}

// checkBudget fails when any span of about a second in series saw more
// calls than the budget allows: rate per second, plus the burst, plus one
// call granted just before the span that arrived in it.
func checkBudget(t *testing.T, series []callSample, rate, burst int) {
	t.Helper()
	for i := range series {
		for j := i + 1; j < len(series) && series[j].at.Sub(series[i].at) <= 1100*time.Millisecond; j++ {
			span := series[j].at.Sub(series[i].at)
			got := series[j].calls - series[i].calls
			if allowed := int(float64(rate)*span.Seconds()) + burst + 1; got > allowed {
				t.Errorf("%d upstream calls in %s, the budget allows %d", got, span.Round(time.Millisecond), allowed)
				return
			}
		}
	}
}

// watchSubmitted follows the submitted events of Tenant and returns when
// each submission's arrived (zero until it has).
func (h *trackHarness) watchSubmitted(t *testing.T) func(id string) time.Time {
	var mu sync.Mutex
	seen := map[string]time.Time{}
	sub, err := h.NATS.NC.Subscribe(h.Res.Layout.Events().Status(pipetest.Tenant, "*"), func(m *nats.Msg) {
		at := time.Now()
		var ev struct {
			Data struct {
				ID    string `json:"submission_id"`
				State string `json:"state"`
			} `json:"data"`
		}
		if json.Unmarshal(m.Data, &ev) == nil && ev.Data.State == "submitted" {
			mu.Lock()
			seen[ev.Data.ID] = at
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return func(id string) time.Time {
		mu.Lock()
		defer mu.Unlock()
		return seen[id]
	}
}
