//go:build scale

package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/iseed-dev/iseed/workdays"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The accelerated benchmark. Run it with
//
//	go test -tags scale -run TestScale -timeout 3h -v ./internal/scale -args -n 100000 -replicas 3
//
// It builds cmd/iseed, starts an embedded nats-server and the simulator
// (in this process), and runs -replicas `iseed serve` processes against
// them, all on one accelerated clock: simulated time starts on Monday 12
// January 2026 at 08:00 in Rome (the simulator's Config.Now; iseed's
// ISEED_TRACK_CLOCK). It publishes -n ISEE submissions at -submit-rate per
// simulated second and follows every request until tracking ends, in two
// phases:
//
//   - the onboarding: the clock runs -scale times faster than real time
//     (slow enough for the machine to keep up), and iseed has the budget,
//     -rps calls per simulated second, as ISEED_UPSTREAM_RPS = rps × scale
//     per real second: submissions and polls compete for it;
//   - the rest of the requests' lives: from the switch (the submissions'
//     expected end plus a margin) the clock runs -then times faster; the
//     processes are restarted (a rolling restart, as a configuration change
//     makes one) with ISEED_UPSTREAM_RPS = rps × then. On this machine the
//     CPU, not the budget, then bounds the calls: the model
//     (TestScheduleDemand) gives that phase's demand against the budget.
var (
	flagN          = flag.Int("n", 2000, "submissions (open requests)")
	flagScale      = flag.Float64("scale", 10, "simulated seconds per real second during the onboarding")
	flagThen       = flag.Float64("then", 1000, "simulated seconds per real second after it")
	flagReplicas   = flag.Int("replicas", 2, "iseed serve processes")
	flagRPS        = flag.Float64("rps", 10, "the deployment's upstream budget, calls per simulated second")
	flagSubmitRate = flag.Float64("submit-rate", 8, "submissions per simulated second")
	flagCallbacks  = flag.Bool("callbacks", false, "the simulator calls back (ISEED_PUBLIC_URL)")
	flagWorkers    = flag.Int("track-workers", 16, "ISEED_TRACK_WORKERS of each process")
	flagMaxReal    = flag.Duration("max-real", 2*time.Hour, "give up after this much real time")
	flagKeep       = flag.String("keep", "", "keep logs and data in this directory")
	flagPprof      = flag.String("pprof", "", "serve net/http/pprof of this process (nats-server, simulator) on this address")
	flagOnboarding = flag.Bool("onboarding-only", false, "stop at the switch: measure the onboarding alone")
	flagEnv        = flag.String("env", "", "more ISEED_ variables for the iseed processes, KEY=VALUE separated by spaces (they win)")
)

// simStart is the simulated clock's start: a Monday morning in January.
func simStart(t testing.TB) time.Time {
	rome, err := time.LoadLocation(workdays.Zone)
	if err != nil {
		t.Fatal(err)
	}
	return time.Date(2026, 1, 12, 8, 0, 0, 0, rome)
}

func TestScale(t *testing.T) {
	dir := *flagKeep
	if dir == "" {
		dir = t.TempDir()
	}
	bin := buildIseed(t, dir)
	if *flagPprof != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		ps := &http.Server{Addr: *flagPprof, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = ps.ListenAndServe() }()
		t.Cleanup(func() { _ = ps.Close() })
	}
	cal, err := workdays.New()
	if err != nil {
		t.Fatal(err)
	}
	real0 := time.Now().Add(20 * time.Second)
	onboarding := time.Duration(float64(*flagN) / *flagSubmitRate / *flagScale * float64(time.Second))
	tb := tracking.Timebase{Scale: *flagScale, Real: real0, Sim: simStart(t), Then: *flagThen,
		Switch: real0.Add(onboarding + onboarding/10 + 10*time.Second)}
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir = -1, true, filepath.Join(dir, "nats")
	srv := natstest.RunWithOptions(t, &opts)
	m := newMeter(tb, 40*24*3600)
	s := sim.New(sim.Config{Token: pipetest.SimToken, Wallet: 1e9, Seed: 1, CancelRate: 0.02, Echo: sim.EchoNone,
		Now: func() time.Time { return tb.At(time.Now()) }, Lifetime: Workload{Calendar: cal, Seed: 1}.Lifetime})
	hs := httptest.NewServer(m.wrap(s))
	t.Cleanup(func() { s.Close(); hs.Close() })

	cluster := &replicas{t: t, bin: bin, dir: dir, natsURL: srv.ClientURL(), simURL: hs.URL, tb: tb}
	cluster.start(*flagScale)
	nc, js := srv.NC, srv.JS
	w := newWatcher(t, nc, *flagN)
	time.Sleep(time.Until(tb.Real))
	ctx, cancel := context.WithTimeout(context.Background(), *flagMaxReal)
	defer cancel()
	go publish(ctx, t, js, w, tb)
	r := follow(ctx, t, js, w, cluster, m, tb)
	report(t, r, m, w, cluster, tb)
}

// buildIseed builds cmd/iseed into dir.
func buildIseed(t *testing.T, dir string) string {
	bin := filepath.Join(dir, "iseed")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/iseed-dev/iseed/cmd/iseed").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// meter counts the simulator's API calls per simulated second, by kind.
type meter struct {
	tb      tracking.Timebase
	seconds []atomic.Int32 // every call, by simulated second since tb.Sim
	kinds   sync.Map       // kind → *atomic.Int64
}

func newMeter(tb tracking.Timebase, seconds int) *meter {
	return &meter{tb: tb, seconds: make([]atomic.Int32, seconds)}
}

func (m *meter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := r.Method + " " + r.URL.Path
		switch {
		case strings.HasPrefix(r.URL.Path, "/_sim/"):
			h.ServeHTTP(w, r)
			return
		case strings.HasPrefix(r.URL.Path, "/richiesta/"):
			kind = r.Method + " /richiesta/{id}"
		case strings.HasPrefix(r.URL.Path, "/documento/"):
			kind = r.Method + " /documento/{id}"
		case strings.HasPrefix(r.URL.Path, "/visure/"):
			kind = r.Method + " /visure/{hash}"
		}
		if s := int(m.tb.At(time.Now()).Sub(m.tb.Sim) / time.Second); s >= 0 && s < len(m.seconds) {
			m.seconds[s].Add(1)
		}
		c, _ := m.kinds.LoadOrStore(kind, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
		h.ServeHTTP(w, r)
	})
}

func (m *meter) kind(k string) int64 {
	if c, ok := m.kinds.Load(k); ok {
		return c.(*atomic.Int64).Load()
	}
	return 0
}

// replica is one `iseed serve` process.
type replica struct {
	name    string
	cmd     *exec.Cmd
	admin   string // host:port of ISEED_HTTP_LISTEN
	maxRSS  float64
	maxGo   float64
	lastRSS float64
	cpu     float64
	waited  chan error
	done    bool
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// replicas are the `iseed serve` processes, one generation at a time.
type replicas struct {
	t               *testing.T
	bin, dir        string
	natsURL, simURL string
	tb              tracking.Timebase
	procs           []*replica
	stopped         []*replica // earlier generations, for the figures
	restarted       bool
	restartTook     time.Duration
}

// start starts -replicas processes with the budget for scale and waits
// until they are ready.
func (c *replicas) start(scale float64) {
	t := c.t
	budget := *flagRPS * scale
	burst := max(10, int(budget/20))
	gen := len(c.stopped) / max(1, *flagReplicas)
	for i := range *flagReplicas {
		r := &replica{name: fmt.Sprintf("iseed-%d", i+1), admin: freePort(t), waited: make(chan error, 1)}
		cb := freePort(t)
		tb := c.tb
		clock := fmt.Sprintf("%g,%s,%s", tb.Scale, tb.Sim.Format(time.RFC3339Nano), tb.Real.Format(time.RFC3339Nano))
		if tb.Then > 0 {
			clock += fmt.Sprintf(",%g,%s", tb.Then, tb.Switch.Format(time.RFC3339Nano))
		}
		env := append(os.Environ(),
			"ISEED_NATS_URL="+c.natsURL, "ISEED_VISENGINE_URL="+c.simURL, "ISEED_VISENGINE_TOKEN="+pipetest.SimToken,
			"ISEED_DATA_DIR="+filepath.Join(c.dir, r.name), "ISEED_HTTP_LISTEN="+r.admin, "ISEED_CALLBACK_LISTEN="+cb,
			fmt.Sprintf("ISEED_UPSTREAM_RPS=%g", budget), fmt.Sprintf("ISEED_UPSTREAM_BURST=%d", burst),
			fmt.Sprintf("ISEED_UPSTREAM_RESERVE=%d", max(2, burst/5)), "ISEED_TRACK_CLOCK="+clock,
			fmt.Sprintf("ISEED_TRACK_WORKERS=%d", *flagWorkers), "ISEED_WORKERS=16", "ISEED_AUDIT_EVERY=0",
			"ISEED_LOG_LEVEL=warn", "ISEED_LOG_FORMAT=json")
		if *flagCallbacks {
			env = append(env, "ISEED_PUBLIC_URL=http://"+cb)
		}
		env = append(env, strings.Fields(*flagEnv)...)
		log, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("%s.%d.log", r.name, gen)))
		if err != nil {
			t.Fatal(err)
		}
		r.cmd = exec.Command(c.bin, "serve")
		r.cmd.Env, r.cmd.Stdout, r.cmd.Stderr = env, log, log
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { r.waited <- r.cmd.Wait(); log.Close() }()
		t.Cleanup(r.stop)
		c.procs = append(c.procs, r)
	}
	deadline := time.Now().Add(time.Minute)
	for _, r := range c.procs {
		for !r.ready() {
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready after a minute: see its log in %s", r.name, c.dir)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// restart stops every process (SIGINT: a clean shutdown) and starts the
// next generation with the budget for scale.
func (c *replicas) restart(scale float64) {
	begin := time.Now()
	for _, r := range c.procs {
		r.scrape()
		r.stop()
	}
	c.stopped, c.procs = append(c.stopped, c.procs...), nil
	c.start(scale)
	c.restarted, c.restartTook = true, time.Since(begin)
}

// stop interrupts the process and waits for it (kills it after 30s).
func (r *replica) stop() {
	if r.done {
		return
	}
	r.done = true
	_ = r.cmd.Process.Signal(os.Interrupt)
	select {
	case <-r.waited:
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.waited
	}
}

func (r *replica) ready() bool {
	resp, err := http.Get("http://" + r.admin + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// scrape reads the process's RSS, goroutines and CPU time from /metrics.
func (r *replica) scrape() {
	resp, err := http.Get("http://" + r.admin + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			r.lastRSS, r.maxRSS = f, max(r.maxRSS, f)
		case "go_goroutines":
			r.maxGo = max(r.maxGo, f)
		case "process_cpu_seconds_total":
			r.cpu = f
		}
	}
}

// watcher follows the status events of the benchmark's tenant.
type watcher struct {
	mu            sync.Mutex
	published     []time.Time     // real time each submission was published
	latency       []time.Duration // publish → submitted event, by submission
	finals        map[string]int  // completed, cancelled, failed
	overdue       int
	submitted     int
	lastSubmitted time.Time // real
}

const tenant = "bench"

func newWatcher(t *testing.T, nc *nats.Conn, n int) *watcher {
	w := &watcher{published: make([]time.Time, n), latency: make([]time.Duration, n), finals: map[string]int{}}
	l := layout.Layout{Prefix: "iseed"}
	sub, err := nc.Subscribe(l.Events().Status(tenant, "*"), w.event)
	if err != nil {
		t.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	return w
}

func (w *watcher) event(m *nats.Msg) {
	at := time.Now()
	var ev struct {
		Data struct {
			ID    string `json:"submission_id"`
			State string `json:"state"`
		} `json:"data"`
	}
	if json.Unmarshal(m.Data, &ev) != nil {
		return
	}
	i, err := strconv.Atoi(strings.TrimPrefix(ev.Data.ID, "s"))
	w.mu.Lock()
	defer w.mu.Unlock()
	switch ev.Data.State {
	case "submitted":
		if err == nil && i < len(w.latency) && w.latency[i] == 0 && !w.published[i].IsZero() {
			w.latency[i] = at.Sub(w.published[i])
			w.submitted++
			w.lastSubmitted = at
		}
	case "completed", "cancelled", "failed":
		w.finals[ev.Data.State]++
	case "overdue":
		w.overdue++
	}
}

// publish publishes the submissions at -submit-rate per simulated second.
func publish(ctx context.Context, t *testing.T, js jetstream.JetStream, w *watcher, tb tracking.Timebase) {
	l := layout.Layout{Prefix: "iseed"}
	every := time.Duration(float64(time.Second) / (*flagSubmitRate * tb.Scale))
	start := time.Now()
	for i := range len(w.published) {
		if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
			time.Sleep(d)
		}
		if ctx.Err() != nil {
			return
		}
		m := nats.NewMsg(l.SubmissionSubject(tenant))
		m.Data = pipetest.Submission(fmt.Sprintf("s%06d", i), pipetest.ValidFields("Mario"))
		w.mu.Lock()
		w.published[i] = time.Now()
		w.mu.Unlock()
		if _, err := js.PublishMsgAsync(m); err != nil {
			t.Errorf("publish %d: %v", i, err)
			return
		}
	}
	<-js.PublishAsyncComplete()
}

// result is what follow saw.
type result struct {
	realTook   time.Duration
	simTook    time.Duration
	switchedAt time.Duration // simulated time since the start when the clock sped up
	maxOpen    uint64
	onboarded  time.Duration // simulated time since the start when the last submission was submitted
}

// follow waits until every submission is tracked to its end, printing
// progress, and scraping the processes.
func follow(ctx context.Context, t *testing.T, js jetstream.JetStream, w *watcher, c *replicas, m *meter, tb tracking.Timebase) result {
	l := layout.Layout{Prefix: "iseed"}
	var r result
	start := time.Now()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := time.Time{}
	for {
		select {
		case <-ctx.Done():
			t.Errorf("gave up after %s real", time.Since(start).Round(time.Second))
			r.realTook, r.simTook = time.Since(start), tb.At(time.Now()).Sub(tb.Sim)
			return r
		case <-tick.C:
		}
		if *flagOnboarding && time.Now().After(tb.Switch) {
			r.realTook, r.simTook, r.switchedAt = time.Since(start), tb.At(tb.Switch).Sub(tb.Sim), tb.At(tb.Switch).Sub(tb.Sim)
			return r
		}
		if !c.restarted && time.Now().After(tb.Switch) {
			c.restart(tb.Then)
			r.switchedAt = tb.At(tb.Switch).Sub(tb.Sim)
			t.Logf("switched to %g× at %s simulated; the processes restarted in %s real (%s simulated)", tb.Then, r.switchedAt.Round(time.Minute),
				c.restartTook.Round(time.Millisecond), tb.At(time.Now()).Sub(tb.At(tb.Switch)).Round(time.Minute))
		}
		procs := c.procs
		for _, p := range procs {
			p.scrape()
		}
		st, err := js.Stream(ctx, l.TrackStream())
		if err != nil {
			continue
		}
		open := st.CachedInfo().State.Msgs
		r.maxOpen = max(r.maxOpen, open)
		w.mu.Lock()
		submitted, finals, overdue := w.submitted, w.finals["completed"]+w.finals["cancelled"]+w.finals["failed"], w.overdue
		w.mu.Unlock()
		now := tb.At(time.Now())
		if time.Since(last) > 30*time.Second {
			last = time.Now()
			var rss []string
			for _, p := range procs {
				rss = append(rss, fmt.Sprintf("%s %.0f MB", p.name, p.lastRSS/1e6))
			}
			t.Logf("%s real, sim %s: submitted %d, open tasks %d, ended %d, overdue %d; upstream GET /richiesta/{id} %d, GET /documento/{id} %d; RSS %s",
				time.Since(start).Round(time.Second), now.Format("Mon 02 Jan 15:04"), submitted, open, finals, overdue,
				m.kind("GET /richiesta/{id}"), m.kind("GET /documento/{id}"), strings.Join(rss, ", "))
		}
		if submitted == len(w.published) && finals >= len(w.published) && open == 0 {
			r.realTook, r.simTook = time.Since(start), now.Sub(tb.Sim)
			return r
		}
	}
}

// report prints the figures.
func report(t *testing.T, r result, m *meter, w *watcher, c *replicas, tb tracking.Timebase) {
	w.mu.Lock()
	lat := slices.DeleteFunc(slices.Clone(w.latency), func(d time.Duration) bool { return d == 0 })
	finals, overdue, lastSubmitted := fmt.Sprint(w.finals), w.overdue, w.lastSubmitted
	w.mu.Unlock()
	procs := append(slices.Clone(c.stopped), c.procs...)
	t.Logf("RESULT n=%d replicas=%d budget=%g/s callbacks=%v scale=%g then %g: %s real = %s simulated; last submission submitted at %s simulated; switch at %s; ends %s; overdue %d; max open tasks %d",
		len(w.published), *flagReplicas, *flagRPS, *flagCallbacks, tb.Scale, tb.Then, r.realTook.Round(time.Second), r.simTook.Round(time.Minute),
		tb.At(lastSubmitted).Sub(tb.Sim).Round(time.Second), r.switchedAt.Round(time.Minute), finals, overdue, r.maxOpen)
	trackCalls := m.kind("GET /richiesta/{id}") + m.kind("GET /documento/{id}")
	t.Logf("RESULT upstream: POST /richiesta %d, GET /richiesta/{id} %d, GET /documento/{id} %d, catalog %d; %.2f tracking calls per ended request",
		m.kind("POST /richiesta"), m.kind("GET /richiesta/{id}"), m.kind("GET /documento/{id}"), m.kind("GET /visure")+m.kind("GET /visure/{hash}"),
		float64(trackCalls)/float64(max(1, len(w.published))))
	end := min(int(r.simTook/time.Second)+1, len(m.seconds))
	cut := min(int(r.switchedAt/time.Second), end)
	if !c.restarted {
		cut = end
	}
	for _, ph := range []struct {
		name     string
		from, to int
	}{{"onboarding", 0, cut}, {"after the switch", cut, end}} {
		if ph.to <= ph.from {
			continue
		}
		d := &Demand{PerSecond: make([]int32, ph.to-ph.from)}
		for i := range d.PerSecond {
			d.PerSecond[i] = m.seconds[ph.from+i].Load()
		}
		t.Logf("RESULT calls per simulated second, %s (%s): peak %.0f in a second, %.2f/s in a minute, %.2f/s in an hour; minutes over the %g/s budget: %.2f%%",
			ph.name, (time.Duration(ph.to-ph.from) * time.Second).Round(time.Minute), d.Peak(1), d.Peak(60), d.Peak(3600), *flagRPS, 100*d.Over(60, *flagRPS))
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))].Round(time.Millisecond)
	}
	t.Logf("RESULT submission latency (publish → submitted event, real time) of %d: p50 %s p90 %s p99 %s max %s",
		len(lat), q(0.5), q(0.9), q(0.99), q(1))
	for i, p := range procs {
		p.scrape()
		t.Logf("RESULT %s (generation %d): max RSS %.0f MB, max goroutines %.0f, CPU %.0f s", p.name, i / *flagReplicas + 1, p.maxRSS/1e6, p.maxGo, p.cpu)
	}
	t.Logf("RESULT this process (nats-server, simulator, driver): %s, CPU %s", selfRSS(), selfCPU())
}

func selfRSS() string {
	b, _ := os.ReadFile("/proc/self/status")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") || strings.HasPrefix(line, "VmRSS:") {
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
	}
	return strings.Join(out, ", ")
}

// selfCPU is this process's user and system time (Linux: clock ticks of 10ms).
func selfCPU() string {
	b, _ := os.ReadFile("/proc/self/stat")
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return "?"
	}
	u, _ := strconv.Atoi(f[11])
	sys, _ := strconv.Atoi(f[12])
	return fmt.Sprintf("%d s", (u+sys)/100)
}
