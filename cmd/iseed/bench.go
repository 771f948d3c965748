package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

// benchTenant is the tenant of every benchmark submission.
const benchTenant = "bench"

// benchOptions are iseed bench's flags.
type benchOptions struct {
	n          int
	workers    int // 0: ISEED_WORKERS
	latency    time.Duration
	storage    string
	natsURL    string
	monitor    string
	serverPID  int // the nats-server's process, whose CPU each phase counts; 0: none
	mode       string
	rate       float64 // 0: half the measured throughput
	rateFor    time.Duration
	cpuProfile string
	repeat     int // whole runs, one after another
}

func newBenchCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure end-to-end submissions per second, messages per submission and latency",
		Long: "Runs the daemon on a private embedded server (or the server --nats-url names, in a stream namespace of its own, removed afterwards) and its simulator. " +
			"The plain pipeline (consume, POST, async publish, ack; no idempotency) takes N queued submissions first, then iseed takes N queued ones, then iseed takes submissions published at a fixed rate for --rate-for. " +
			"Each phase prints its throughput, the messages per submission on the pipeline's connection (and on the whole server when its monitoring is reachable), " +
			"the CPU per submission of this process (and of the nats-server with --server-pid) from the phase's start until its work is settled, with how many of the machine's CPUs that kept busy on average, and the latency from publication to the submitted event. " +
			"It also prints the longest pause between two events in a row: a queued phase that took no submission for over a second while they waited is marked STALLED, " +
			"as is the ratio of a run with such a phase, and --repeat leaves that run out of its medians: its rate measures the stall, not the pipeline.",
		Args: noArgs,
	}
	o := &benchOptions{}
	fs := cmd.Flags()
	fs.IntVar(&o.n, "n", 5000, "queued submissions per throughput phase")
	fs.IntVar(&o.workers, "workers", 0, "pipeline workers, for iseed and the plain pipeline (0: ISEED_WORKERS, the default)")
	fs.DurationVar(&o.latency, "latency", 0, "simulated upstream latency per call")
	fs.StringVar(&o.storage, "storage", "file", "JetStream storage: file or memory")
	fs.StringVar(&o.natsURL, "nats-url", "", "measure against this server instead of an embedded one")
	fs.IntVar(&o.serverPID, "server-pid", 0, "the nats-server's process `ID` on this machine, to count its CPU per submission (/proc/PID/stat)")
	fs.StringVar(&o.monitor, "monitor", "", "the server's monitoring `URL` (http://host:8222), for its /varz message counts")
	fs.StringVar(&o.mode, "mode", "both", "what to run: both, iseed or plain")
	fs.Float64Var(&o.rate, "rate", 0, "submissions per second of the paced phase (0: half of iseed's measured throughput)")
	fs.DurationVar(&o.rateFor, "rate-for", 10*time.Second, "how long the paced phase publishes (0: no paced phase)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of iseed's phases to this `FILE`, and of the plain pipeline's to FILE.plain")
	fs.IntVar(&o.repeat, "repeat", 1, "whole runs, one after another, each with a daemon and a stream namespace of its own; then the median of each figure and of the ratios")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if o.n < 1 {
			return usagef("--n must be at least 1")
		}
		if o.mode != "both" && o.mode != "iseed" && o.mode != "plain" {
			return usagef("--mode must be both, iseed or plain, got %q", o.mode)
		}
		if o.rate < 0 || o.rateFor < 0 {
			return usagef("--rate and --rate-for must not be negative")
		}
		if !natsURLsParse(o.natsURL) || o.natsURL != "" && strings.Trim(o.natsURL, " \t,") == "" {
			// It becomes ISEED_NATS_URL, whose refusal would name that
			// variable instead; quoted, it would show the password.
			return usagef("--nats-url names no server, or one that does not parse: percent-encode the user name and password in it")
		}
		if o.repeat < 1 {
			return usagef("--repeat must be at least 1")
		}
		if o.serverPID < 0 {
			return usagef("--server-pid must not be negative")
		}
		if o.serverPID > 0 {
			if _, err := pidCPU(o.serverPID); err != nil {
				return usagef("--server-pid %d: its CPU cannot be read: %v", o.serverPID, err)
			}
		}
		var runs []benchResult
		for i := range o.repeat {
			if o.repeat > 1 {
				fmt.Fprintf(e.stdout, "run %d of %d\n", i+1, o.repeat)
			}
			r, err := bench(cmd.Context(), e, o)
			if err != nil {
				return err
			}
			runs = append(runs, r)
		}
		if o.repeat > 1 {
			printRuns(e.stdout, runs)
		}
		return nil
	}
	return cmd
}

// benchResult is what one run measured: each phase's throughput
// (submissions a second), 0 for one it did not run.
type benchResult struct {
	plain, iseed       float64
	plainCPU, iseedCPU time.Duration // CPU per submission of each queued phase; 0 when unknown
	stalled            bool          // a queued phase stalled: the run is left out of the medians
}

// printRuns writes the median of each throughput over runs, with their
// range, and the median of the runs' ratios, of throughput and of CPU per
// submission: on a shared machine one run's ratio varies by a fifth. A run
// in which a queued phase stalled is left out, and counted.
func printRuns(w io.Writer, runs []benchResult) {
	var plain, iseed, ratio, cpu []float64
	stalled := 0
	for _, r := range runs {
		if r.stalled {
			stalled++
			continue
		}
		if r.plain > 0 {
			plain = append(plain, r.plain)
		}
		if r.iseed > 0 {
			iseed = append(iseed, r.iseed)
		}
		if r.plain > 0 && r.iseed > 0 {
			ratio = append(ratio, r.iseed/r.plain)
		}
		if r.plainCPU > 0 && r.iseedCPU > 0 {
			cpu = append(cpu, float64(r.iseedCPU)/float64(r.plainCPU))
		}
	}
	var parts []string
	for _, f := range []struct {
		name, format string
		vs           []float64
	}{{"plain pipeline", "%.0f/s", plain}, {"iseed", "%.0f/s", iseed}, {"iseed/plain throughput", "%.2f", ratio}, {"iseed/plain CPU per submission", "%.2f", cpu}} {
		if len(f.vs) == 0 {
			continue
		}
		slices.Sort(f.vs)
		parts = append(parts, fmt.Sprintf("%s "+f.format+" (median; "+f.format+"–"+f.format+")", f.name, median(f.vs), f.vs[0], f.vs[len(f.vs)-1]))
	}
	if stalled > 0 {
		fmt.Fprintf(w, "over %d runs, %d left out (a queued phase STALLED): %s\n", len(runs)-stalled, stalled, strings.Join(parts, ", "))
		return
	}
	fmt.Fprintf(w, "over %d runs: %s\n", len(runs), strings.Join(parts, ", "))
}

// median is the middle of sorted, or the mean of its two middle values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// bench runs the measurement once.
func bench(ctx context.Context, e *env, o *benchOptions) (benchResult, error) {
	dir, err := os.MkdirTemp("", "iseed-bench-")
	if err != nil {
		return benchResult{}, err
	}
	defer os.RemoveAll(dir)
	cfg, err := benchConfig(dir, o)
	if err != nil {
		return benchResult{}, configError(err)
	}
	if o.natsURL != "" { // the daemon would wait for it forever
		nc, err := nats.Connect(o.natsURL, nats.Timeout(5*time.Second))
		if err != nil {
			return benchResult{}, fmt.Errorf("--nats-url %s: %w", redactedURLs(o.natsURL), connectError(err)) // never its credentials
		}
		nc.Close()
	}
	d, err := newDaemon(ctx, cfg, zerolog.Nop())
	if err != nil {
		return benchResult{}, err
	}
	defer d.close()
	if o.natsURL != "" {
		defer dropStreams(d.js, cfg.SubjectPrefix)
	}
	d.sim.sim.SetWallet(1e9)
	d.sim.sim.SetFaults(sim.Faults{Latency: o.latency})
	url := o.natsURL
	if url == "" {
		url = d.conn.embedded.ClientURL()
	}
	b, err := newBenchRun(d, url, o)
	if err != nil {
		return benchResult{}, err
	}
	defer b.close()
	b.header(ctx, e.stdout)
	return b.run(ctx, e.stdout)
}

// benchConfig is the environment's configuration with a fresh data
// directory, a subject prefix of its own, the simulator without callbacks,
// no rate limit, no tenant quota and no caps file (caps stay on, with none
// set: a cap from ISEED_BUDGETS_FILE, the default tenant caps or the
// account's, would hold the run's submissions); the embedded server unless
// --nats-url is given.
func benchConfig(dir string, o *benchOptions) (*Config, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	cfg.DataDir, cfg.EmbeddedNATSListen, cfg.HTTPListen, cfg.CallbackListen = dir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.NATSURL, cfg.VisengineURL, cfg.VisengineToken = o.natsURL, URL{}, ""
	if o.natsURL == "" {
		cfg.Replicas = 1
	}
	if o.workers > 0 {
		cfg.Workers = o.workers
	}
	cfg.SubjectPrefix = "bench" + randomHex(4)
	cfg.UpstreamRPS, cfg.Storage = 0, o.storage                            // no upstream limit: measure iseed
	cfg.TenantMaxSubs = 0                                                  // its one tenant publishes every submission of the run
	cfg.BudgetsFile = ""                                                   // its own namespace, without caps
	cfg.SimStep, cfg.SimCallbacks, cfg.PublicURL = time.Hour, false, URL{} // measure submissions, not callbacks
	return cfg, cfg.validate()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// benchRun is one run of the benchmark.
type benchRun struct {
	d       *daemon
	o       *benchOptions
	url     string
	nc      *nats.Conn // publisher and watcher
	js      jetstream.JetStream
	counter serverCounter
}

func newBenchRun(d *daemon, url string, o *benchOptions) (*benchRun, error) {
	nc, err := nats.Connect(url, nats.Name("iseed bench"))
	if err != nil {
		return nil, fmt.Errorf("bench connection: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(16384))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &benchRun{d: d, o: o, url: url, nc: nc, js: js, counter: newServerCounter(d.conn.embedded, o.monitor)}, nil
}

func (b *benchRun) close() { b.nc.Close() }

func (b *benchRun) header(ctx context.Context, w io.Writer) {
	cfg := b.d.cfg
	server := "embedded nats-server (in this process)"
	if b.o.natsURL != "" {
		server = "nats-server at " + b.o.natsURL
	}
	fmt.Fprintf(w, "server: %s, %s storage, %d replica(s)\n", server, cfg.Storage, cfg.Replicas)
	fmt.Fprintf(w, "workers: %d  upstream latency: %s  spending caps: %s\n", cfg.Workers, b.o.latency, b.caps(ctx))
	fmt.Fprintf(w, "machine: %d CPUs (GOMAXPROCS %d), %s, load average %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), loadAverage())
}

// caps says whether spending caps are on and how many scopes have caps.
func (b *benchRun) caps(ctx context.Context) string {
	if b.d.money.budgets == nil {
		return "off (ISEED_SPENDING_CAPS=false)"
	}
	set, err := b.d.money.budgets.List(ctx)
	if err != nil {
		return "on (caps unreadable: " + err.Error() + ")"
	}
	return fmt.Sprintf("on, %d scope(s) with caps (ISEED_BUDGETS_FILE sets them)", len(set))
}

// run runs the phases the mode names and prints each, then the ratio.
func (b *benchRun) run(ctx context.Context, w io.Writer) (benchResult, error) {
	var plain, queued *phaseResult
	var res benchResult
	if b.o.mode != "iseed" {
		r, err := b.plainPhase(ctx)
		if err != nil {
			return res, err
		}
		res.plain = r.throughput()
		res.plainCPU = r.cpu.perSubmission(r.n)
		res.stalled = r.stalled()
		plain = r
		r.print(w)
	}
	if b.o.mode != "plain" {
		var paced *phaseResult
		var err error
		if queued, paced, err = b.iseedPhases(ctx); err != nil {
			return res, err
		}
		res.iseed = queued.throughput()
		res.iseedCPU = queued.cpu.perSubmission(queued.n)
		res.stalled = res.stalled || queued.stalled()
		queued.print(w)
		if paced != nil {
			paced.print(w)
		}
	}
	if plain != nil && queued != nil {
		fmt.Fprintf(w, "iseed/plain throughput: %.2f", queued.throughput()/plain.throughput())
		if plain.stalled() || queued.stalled() {
			fmt.Fprint(w, " (a phase STALLED: not a comparison of the pipelines; run again)")
		}
		fmt.Fprintln(w)
		if plain.cpu.hasServer != queued.cpu.hasServer { // the server's CPU read for one phase only: not comparable
			res.plainCPU, res.iseedCPU = 0, 0
		}
		if res.plainCPU > 0 && res.iseedCPU > 0 {
			what := "this process"
			if queued.cpu.hasServer {
				what = "this process and the nats-server"
			}
			fmt.Fprintf(w, "iseed/plain CPU per submission: %.2f (%s)\n", float64(res.iseedCPU)/float64(res.plainCPU), what)
		}
	}
	// The line the tests and scripts look for.
	last := queued
	if last == nil {
		last = plain
	}
	fmt.Fprintf(w, "submissions: %d\nthroughput: %.0f submissions/s\n", b.o.n, last.throughput())
	return res, nil
}

// plainPhase runs the plain pipeline on N queued submissions.
func (b *benchRun) plainPhase(ctx context.Context) (*phaseResult, error) {
	p, err := newPlainPipeline(ctx, b.d, b.url, b.d.cfg.Workers)
	if err != nil {
		return nil, err
	}
	defer p.close()
	watch, err := watchBench(b.nc, p.subjects.statusAll(), b.o.n, func(m *nats.Msg) int { return indexOf(m.Subject, "p") })
	if err != nil {
		return nil, err
	}
	defer watch.stop()
	if err := b.publishQueued(ctx, p.subjects.in(), "p", watch); err != nil {
		return nil, err
	}
	if b.o.cpuProfile != "" {
		stop, err := startCPUProfile(b.o.cpuProfile + ".plain")
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	settled := func(ctx context.Context) error {
		return b.settled(ctx, consumerDone{p.subjects.stream("SUBMISSIONS"), "plain", true})
	}
	return b.measure(ctx, "plain pipeline, queued", p.nc, watch, settled, func() func() {
		done := make(chan error, 1)
		go func() { done <- p.run(runCtx) }()
		return func() { cancel(); <-done }
	})
}

// iseedPhases runs iseed on N queued submissions, then, with the daemon
// still running, on submissions published at a fixed rate.
func (b *benchRun) iseedPhases(ctx context.Context) (queued, paced *phaseResult, err error) {
	subject := b.d.res.Layout.SubmissionSubject(benchTenant)
	events := b.d.res.Layout.Events().Status(benchTenant, "*")
	match := func(prefix string) func(*nats.Msg) int {
		want := publisher.StatusType(publisher.StateSubmitted)
		return func(m *nats.Msg) int {
			if m.Header.Get("Ce-Type") != want {
				return -1
			}
			return indexOf(m.Subject, prefix)
		}
	}
	watch, err := watchBench(b.nc, events, b.o.n, match("q"))
	if err != nil {
		return nil, nil, err
	}
	defer watch.stop()
	if err := b.publishQueued(ctx, subject, "q", watch); err != nil {
		return nil, nil, err
	}
	if b.o.cpuProfile != "" {
		stop, err := startCPUProfile(b.o.cpuProfile)
		if err != nil {
			return nil, nil, err
		}
		defer stop()
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	defer func() { cancel(); <-done }()
	queued, err = b.measure(ctx, "iseed, queued", b.d.conn.nc, watch, b.iseedSettled, func() func() {
		go func() { done <- b.d.run(runCtx) }()
		return func() {}
	})
	if err != nil || b.o.rateFor == 0 {
		return queued, nil, err
	}
	watch.stop() // the paced phase's events are its own watch's: not delivered twice
	rate := b.o.rate
	if rate == 0 {
		rate = queued.throughput() / 2
	}
	n := max(1, int(rate*b.o.rateFor.Seconds()))
	pw, err := watchBench(b.nc, events, n, match("r"))
	if err != nil {
		return nil, nil, err
	}
	defer pw.stop()
	paced, err = b.pacedPhase(ctx, subject, pw, n, rate)
	return queued, paced, err
}

// measure starts a pipeline and times it until every watched event
// arrived; its messages are counted until settle says the work those
// submissions started is done (their messages acknowledged, their tracking
// tasks delivered once).
func (b *benchRun) measure(ctx context.Context, name string, pipeline *nats.Conn, watch *eventWatch, settle func(context.Context) error, start func() (stop func())) (*phaseResult, error) {
	c0, s0, m0 := connCount(pipeline), b.serverCount(ctx), b.cpuMark()
	began := time.Now()
	stop := start()
	defer stop()
	if err := watch.wait(ctx, time.Minute); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r := &phaseResult{name: name, n: watch.want, took: watch.last.Sub(began), first: watch.first.Sub(began), lat: watch.latencies(), pause: watch.longestPause()}
	return r, b.count(ctx, r, pipeline, c0, s0, m0, settle)
}

// count waits until settled, then notes the messages counted since c0 and
// s0, and the CPU used since m0.
func (b *benchRun) count(ctx context.Context, r *phaseResult, pipeline *nats.Conn, c0 msgCount, s0 *msgCount, m0 cpuUse, settle func(context.Context) error) error {
	began := time.Now()
	if err := settle(ctx); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	r.settled = time.Since(began)
	r.cpu = b.cpuMark().since(m0)
	r.conn = connCount(pipeline).minus(c0)
	if s0 != nil {
		if s1 := b.serverCount(ctx); s1 != nil {
			r.server, r.hasServer = s1.minus(*s0), true
		}
	}
	return nil
}

// pacedPhase publishes n submissions at rate while the daemon runs.
func (b *benchRun) pacedPhase(ctx context.Context, subject string, watch *eventWatch, n int, rate float64) (*phaseResult, error) {
	c0, s0, m0 := connCount(b.d.conn.nc), b.serverCount(ctx), b.cpuMark()
	var first time.Time
	err := pace(ctx, n, rate, func(i int, due time.Time) error {
		if i == 0 {
			first = due
		}
		watch.published(i, due)
		return b.publish(subject, "r", i)
	})
	if err != nil {
		return nil, err
	}
	if err := watch.wait(ctx, time.Minute); err != nil {
		return nil, fmt.Errorf("paced phase: %w", err)
	}
	r := &phaseResult{name: "iseed, paced", n: n, rate: rate, took: watch.last.Sub(first), first: watch.first.Sub(first), lat: watch.latencies(), pause: watch.longestPause()}
	return r, b.count(ctx, r, b.d.conn.nc, c0, s0, m0, b.iseedSettled)
}

func (b *benchRun) serverCount(ctx context.Context) *msgCount {
	if b.counter == nil {
		return nil
	}
	c, err := b.counter(ctx)
	if err != nil {
		return nil
	}
	return &c
}

// publishQueued publishes N submissions and waits for the stream to store
// them all.
func (b *benchRun) publishQueued(ctx context.Context, subject, prefix string, watch *eventWatch) error {
	for i := range b.o.n {
		watch.published(i, time.Now())
		if err := b.publish(subject, prefix, i); err != nil {
			return err
		}
	}
	select {
	case <-b.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Minute):
		return fmt.Errorf("publishing %d submissions took over a minute", b.o.n)
	}
}

// publish publishes submission prefix+i asynchronously, with the message
// id iseed requires.
func (b *benchRun) publish(subject, prefix string, i int) error {
	id := fmt.Sprintf("%s%d", prefix, i)
	body, err := iseeEvent(id, fmt.Sprintf("Nome%s", id))
	if err != nil {
		return err
	}
	sub, err := consumer.DecodeSubmission(body)
	if err != nil {
		return err
	}
	m := nats.NewMsg(subject)
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, publisher.SubmissionMsgID(benchTenant, id, sub.Fingerprint()))
	_, err = b.js.PublishMsgAsync(m)
	return err
}

// iseedSettled waits until the submissions consumer has acknowledged
// everything and the tracker has had every task once.
func (b *benchRun) iseedSettled(ctx context.Context) error {
	l := b.d.res.Layout
	return b.settled(ctx, consumerDone{l.SubmissionsStream(), l.Durable(), true}, consumerDone{l.TrackStream(), l.TrackDurable(), false})
}

// consumerDone names a durable consumer whose work settled waits for:
// every message delivered, and with acked every one acknowledged.
type consumerDone struct {
	stream, durable string
	acked           bool
}

// settled polls the consumers' info, on the bench's own connection, until
// each is done.
func (b *benchRun) settled(ctx context.Context, cs ...consumerDone) error {
	deadline := time.Now().Add(time.Minute)
	for _, c := range cs {
		cons, err := b.js.Consumer(ctx, c.stream, c.durable)
		if err != nil {
			return err
		}
		for {
			info, err := cons.Info(ctx)
			if err == nil && info.NumPending == 0 && (!c.acked || info.NumAckPending == 0) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("consumer %s still busy a minute after the last event", c.durable)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// dropStreams removes every stream of the run's prefix from an external
// server: its streams, KV buckets and object stores.
func dropStreams(js jetstream.JetStream, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var drop []string
	for name := range names.Name() {
		if strings.HasPrefix(name, strings.ToUpper(prefix)+"_") || strings.HasPrefix(name, "KV_"+prefix+"_") || strings.HasPrefix(name, "OBJ_"+prefix+"_") {
			drop = append(drop, name)
		}
	}
	for _, name := range drop {
		_ = js.DeleteStream(ctx, name)
	}
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// iseeEvent is a complete, valid ISEE submission event for the simulator's
// catalog; name makes its input distinct.
func iseeEvent(id, name string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"id": id, "service": "ISEE", "options": []string{"urgenza"},
		"fields": map[string]string{
			"$0": name, "$1": "Rossi", "$2": "mario.rossi@example.it", "$3": "+39 333 1234567",
			"$4": "RSSMRA85T10A562S", "$5": "ci.pdf|data:application/pdf;base64,JVBERi0xLjQK",
			"$6": "cf.pdf|data:application/pdf;base64,JVBERi0xLjQK",
		},
	})
}
