package overview_test

import (
	"bufio"
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// run runs f until the test ends.
func run(t *testing.T, f func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = f(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func newOverview(t *testing.T, h *pipetest.Harness, d overview.Deps) *overview.Overview {
	t.Helper()
	d.Resources = h.Res
	o, err := overview.New(overview.Config{Refresh: 50 * time.Millisecond, Logger: zerolog.New(zerolog.NewTestWriter(t))}, d)
	if err != nil {
		t.Fatal(err)
	}
	run(t, o.Run)
	select {
	case <-o.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("overview not ready")
	}
	return o
}

// waitSnapshot takes snapshots until cond holds, and returns that one.
func waitSnapshot(t *testing.T, o *overview.Overview, what string, cond func(*overview.Snapshot) bool) *overview.Snapshot {
	t.Helper()
	var s *overview.Snapshot
	pipetest.WaitFor(t, 20*time.Second, what, func() bool {
		var err error
		s, err = o.Snapshot(context.Background())
		return err == nil && cond(s)
	})
	return s
}

// TestSnapshotOfPipeline runs the real pipeline: a backlog before it
// starts, a submission dead-lettered for want of credit, one submitted, one
// rejected, a tracking task; then a replay and an expired DLQ.
func TestSnapshotOfPipeline(t *testing.T) {
	h := pipetest.New(t)
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // the upstream refuses every POST: nothing created
	gauges := overview.Gauges{BreakerOpen: true, CallsPerSecond: 2.5, RateLimit: 10}
	o := newOverview(t, h, overview.Deps{
		Gauges:     func() overview.Gauges { return gauges },
		SpendToday: func(context.Context) (float64, error) { return 12.5, nil },
	})

	h.Publish(pipetest.Submission("emp-credit", pipetest.ValidFields("Mario")), nil)
	waitSnapshot(t, o, "a backlog of one", func(s *overview.Snapshot) bool {
		return s.Submissions != nil && s.Submissions.Backlog == 1
	})
	h.Start()
	h.WaitState("emp-credit", record.StateFailed)
	h.Sim.SetFaults(sim.Faults{})
	h.Publish(pipetest.Submission("emp-ok", pipetest.ValidFields("Mario")), nil)
	h.Publish(pipetest.Submission("emp-bad", map[string]any{"Nome": "Mario"}), nil)
	rec := h.WaitState("emp-ok", record.StateSubmitted)
	h.WaitState("emp-bad", record.StateRejected)
	tr, err := tracking.New(tracking.Config{}, tracking.Deps{Resources: h.Res, Upstream: h.Client,
		Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Track(context.Background(), rec); err != nil {
		t.Fatal(err)
	}

	wantDead := map[string]int{"upstream_rejected": 1, "invalid": 1}
	s := waitSnapshot(t, o, "the three submissions counted", func(s *overview.Snapshot) bool {
		return s.Ready && s.Requests.OpenTotal == 1 && maps.Equal(s.DeadLetters, wantDead) &&
			s.Submissions.Backlog == 0 && s.Submissions.InFlight == 0 && s.Tracking != nil && s.Tracking.Tasks == 1
	})
	if s.Requests.Oldest == nil || s.Requests.Oldest.ID != "emp-ok" || s.DeadLettersTotal != 2 {
		t.Errorf("oldest, dead letters: got %+v, %d; want emp-ok, 2", s.Requests.Oldest, s.DeadLettersTotal)
	}
	if s.Upstream == nil || *s.Upstream != gauges || s.SpendToday == nil || *s.SpendToday != 12.5 {
		t.Errorf("upstream, spend: got %+v, %v", s.Upstream, s.SpendToday)
	}

	dls := h.DeadLetters()
	seq := dls[slices.IndexFunc(dls, func(d dlq.DeadLetter) bool { return d.Reason == "upstream_rejected" })].Seq
	if err := h.Queue().Replay(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, o, "the replayed dead letter gone, its submission open", func(s *overview.Snapshot) bool {
		return maps.Equal(s.DeadLetters, map[string]int{"invalid": 1}) && s.Requests.Open["submitted"] == 2
	})
	if err := h.Res.DLQ.Purge(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, o, "the purged dead letters gone", func(s *overview.Snapshot) bool {
		return len(s.DeadLetters) == 0 && s.DeadLettersTotal == 0
	})
}

// TestMetricsScrape scrapes the overview's gauges, with the pipeline's and
// the tracker's metrics, after real traffic, and holds the scrape to the
// list of metrics the dashboard and alert rules may use
// (deploy/prometheus/metrics.txt).
func TestMetricsScrape(t *testing.T) {
	h := pipetest.New(t)
	reg := prometheus.NewRegistry()
	o := newOverview(t, h, overview.Deps{Gauges: func() overview.Gauges { return overview.Gauges{RateLimit: 10} },
		Paused: func(context.Context) ([]string, error) { return nil, nil }}) // TestPausedScopes reads a pipeline's
	if err := o.Register(reg); err != nil {
		t.Fatal(err)
	}
	h.Start(pipetest.WithMetrics(consumer.NewMetrics(reg)))
	tr, err := tracking.New(tracking.Config{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)},
		tracking.Deps{Resources: h.Res, Upstream: h.Client, Events: publisher.New(h.NATS.JS, publisher.Config{}),
			Publisher: h.NATS.JS, Metrics: tracking.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	run(t, tr.Run)
	h.Publish(pipetest.Submission("emp-1", pipetest.ValidFields("Mario")), nil)
	h.Publish(pipetest.Submission("emp-2", map[string]any{}), nil)
	if err := tr.Track(context.Background(), h.WaitState("emp-1", record.StateSubmitted)); err != nil {
		t.Fatal(err)
	}
	h.WaitState("emp-2", record.StateRejected)

	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	var samples map[string]string
	pipetest.WaitFor(t, 20*time.Second, "every metric in a scrape", func() bool {
		samples = scrape(t, srv.URL)
		// The tracking task is counted from the consumer's info, which can
		// lag a publish: a later snapshot has it.
		return samples[`iseed_open_requests{state="submitted"}`] == "1" && samples[`iseed_dead_letters{reason="invalid"}`] == "1" &&
			samples[`iseed_tracking_polls_total{result="open"}`] != "" && samples["iseed_tracking_tasks"] == "1"
	})
	for _, want := range []string{`iseed_open_requests{state="in_progress"} 0`, `iseed_submissions_backlog 0`,
		`iseed_tracking_tasks 1`, `iseed_dead_letters{reason="gave_up"} 0`, `iseed_upstream_rate_limit 10`, `iseed_held_submissions 0`, `iseed_held_submissions_by_code{code="fair_share"} 0`, `iseed_paused_scopes 0`} {
		name, value, _ := strings.Cut(want, " ")
		if samples[name] != value {
			t.Errorf("%s: got %q, want %q", name, samples[name], value)
		}
	}

	listed := listedMetrics(t)
	exported := map[string]bool{}
	for series := range samples {
		name, _, _ := strings.Cut(series, "{")
		if !strings.HasPrefix(name, "iseed_") {
			continue
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && listed[base] == "histogram" {
				name = base
			}
		}
		exported[name] = true
		if listed[name] == "" {
			t.Errorf("%s is exported but not in deploy/prometheus/metrics.txt", name)
		}
	}
	for name, source := range listedSources(t) {
		if (source == "consumer" || source == "tracking" || source == "overview") && !exported[name] {
			t.Errorf("%s is listed as exported by %s but is not in the scrape", name, source)
		}
	}
}

// scrape returns every sample of the exposition at url, by series.
func scrape(t *testing.T, url string) map[string]string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out
}

// metricsList reads deploy/prometheus/metrics.txt: name, type, source.
func metricsList(t *testing.T) [][3]string {
	t.Helper()
	b, err := os.ReadFile("../deploy/prometheus/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out [][3]string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		out = append(out, [3]string{f[0], f[1], f[2]})
	}
	return out
}

func listedMetrics(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, m := range metricsList(t) {
		out[m[0]] = m[1]
	}
	return out
}

func listedSources(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, m := range metricsList(t) {
		out[m[0]] = m[2]
	}
	return out
}

// TestSnapshotWhileNATSIsDown stops the server: a snapshot taken within the
// refresh's deadline names the consumers and the dead letters unreadable and
// leaves them out, rather than wait for reads that cannot go and fail whole
// (no snapshot stored: the gauges would repeat the last one, a backlog
// included, and IseedJetStreamUnavailable would not fire).
func TestSnapshotWhileNATSIsDown(t *testing.T) {
	h := pipetest.New(t)
	o := newOverview(t, h, overview.Deps{Connected: h.NATS.NC.IsConnected})
	waitSnapshot(t, o, "the consumers read", func(s *overview.Snapshot) bool {
		return s.Submissions != nil && s.Tracking != nil
	})
	h.NATS.Shutdown()
	pipetest.WaitFor(t, 10*time.Second, "the client disconnected", func() bool { return !h.NATS.NC.IsConnected() })

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := o.Snapshot(ctx)
	if err != nil {
		t.Fatalf("snapshot with NATS down: got %v, want one naming the parts it could not read", err)
	}
	if s.Submissions != nil || s.Tracking != nil {
		t.Errorf("consumers: got %+v, %+v; want both left out", s.Submissions, s.Tracking)
	}
	want := []string{"submissions consumer: NATS not connected", "tracking consumer: NATS not connected", "dead letters: NATS not connected"}
	if !slices.Equal(s.Problems, want) {
		t.Errorf("problems: got %q, want %q", s.Problems, want)
	}
}
