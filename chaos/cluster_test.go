//go:build chaos && linux

package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The suite's addresses on its bridge.
var (
	natsAddrs  = []string{"198.18.0.11", "198.18.0.12", "198.18.0.13"}
	iseedAddrs = []string{"198.18.0.21", "198.18.0.22"}
	simAddr    = "198.18.0.30"
	ctlAddr    = "198.18.0.40" // the test's own clients
)

const (
	simToken = "chaos-token"
	tenant   = "chaos"
)

// world is one run: the network, the processes and the test's clients.
type world struct {
	t       *testing.T
	plan    plan
	dir     string // configurations, stores, logs
	bin     string // nats-server and iseed
	net     *network
	ctl     *netns
	nats    []*proc
	proxies []*delayProxy
	iseed   []*proc
	sim     *proc
	nc      *nats.Conn
	js      jetstream.JetStream
	http    *http.Client
	phases  []phase
}

// phase is one timed step of the run, for the figures.
type phase struct {
	name string
	took time.Duration
	note string
}

// step runs f as a named phase, timing it; a failure ends the test.
func (w *world) step(name string, f func() (note string, err error)) {
	w.t.Helper()
	start := time.Now()
	w.t.Logf("phase %q: start", name)
	note, err := f()
	took := time.Since(start).Round(100 * time.Millisecond)
	w.phases = append(w.phases, phase{name, took, note})
	if err != nil {
		w.t.Fatalf("phase %q failed after %s: %v", name, took, err)
	}
	w.t.Logf("phase %q: done in %s %s", name, took, note)
}

// build compiles nats-server at go.mod's version and iseed into w.bin.
// With CHAOS_ISEED_PATCH, iseed is built from a copy of the module with
// that patch applied (the start-up workaround until its fix lands).
func build(ctx context.Context, root, bin, patch string) (string, error) {
	goBuild := func(dir, out, pkg string) error {
		cmd := exec.CommandContext(ctx, "go", "build", "-buildvcs=false", "-o", out, pkg)
		cmd.Dir = dir
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
		}
		return nil
	}
	if err := goBuild(root, filepath.Join(bin, "nats-server"), "github.com/nats-io/nats-server/v2"); err != nil {
		return "", err
	}
	src, note := root, "iseed from the work tree"
	if patch != "" {
		if !filepath.IsAbs(patch) {
			patch = filepath.Join(root, patch)
		}
		var err error
		if src, err = patchedCopy(ctx, root, filepath.Join(bin, "src"), patch); err != nil {
			return "", err
		}
		note = "WORKAROUND: iseed built with " + filepath.Base(patch) + " applied"
	}
	return note, goBuild(src, filepath.Join(bin, "iseed"), "./cmd/iseed")
}

// patchedCopy copies the module's files (tracked and untracked, not
// ignored) to dst and applies patch there.
func patchedCopy(ctx context.Context, root, dst, patch string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "ls-files", "-co", "--exclude-standard").Output()
	if err != nil {
		return "", fmt.Errorf("git ls-files: %w", err)
	}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		b, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the work tree
		}
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			return "", err
		}
	}
	cmd := exec.CommandContext(ctx, "git", "apply", patch)
	cmd.Dir = dst
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("git apply %s: %w\n%s", patch, err, b)
	}
	return dst, nil
}

// natsConfig is node i's configuration. The cluster port listens on the
// namespace's loopback and advertises the bridge address, where the node's
// delay proxy listens (see delayProxy).
func natsConfig(i int, store string) string {
	var routes []string
	for j, a := range natsAddrs {
		if j != i {
			routes = append(routes, fmt.Sprintf("nats-route://%s:6222", a))
		}
	}
	return fmt.Sprintf(`server_name: n%d
listen: %s:4222
http: %s:8222
jetstream {
  store_dir: %q
  sync_interval: always
  max_memory_store: 64MB
  max_file_store: 4GB
}
cluster {
  name: chaos
  listen: 127.0.0.1:6222
  advertise: "%s:6222"
  routes: [ %s ]
}
`, i+1, natsAddrs[i], natsAddrs[i], store, natsAddrs[i], strings.Join(routes, ", "))
}

// natsURLs is every node's client URL, comma-separated.
func natsURLs() string {
	var u []string
	for _, a := range natsAddrs {
		u = append(u, "nats://"+a+":4222")
	}
	return strings.Join(u, ",")
}

// startNATS writes the configurations, starts the proxies and the three
// servers, and waits for a JetStream meta leader.
func (w *world) startNATS(ctx context.Context) error {
	for i := range natsAddrs {
		ns := w.net.ns(fmt.Sprintf("n%d", i+1))
		conf := filepath.Join(w.dir, fmt.Sprintf("n%d.conf", i+1))
		if err := os.WriteFile(conf, []byte(natsConfig(i, filepath.Join(w.dir, fmt.Sprintf("n%d-store", i+1)))), 0o644); err != nil {
			return err
		}
		px, err := startProxy(ns, natsAddrs[i]+":6222", "127.0.0.1:6222")
		if err != nil {
			return err
		}
		w.proxies = append(w.proxies, px)
		w.nats = append(w.nats, &proc{name: fmt.Sprintf("n%d", i+1), ns: ns, bin: filepath.Join(w.bin, "nats-server"),
			args: []string{"-c", conf}, log: filepath.Join(w.dir, fmt.Sprintf("n%d.log", i+1))})
	}
	for _, p := range w.nats {
		if err := p.start(); err != nil {
			return err
		}
	}
	if err := w.connect(); err != nil {
		return err
	}
	return waitFor(ctx, time.Minute, "a JetStream meta leader", func() error {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := w.js.AccountInfo(actx)
		return err
	})
}

// connect makes the test's NATS connection and HTTP client, both from the
// control namespace (never faulted itself).
func (w *world) connect() error {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		return w.ctl.dial(ctx, network, addr)
	}
	w.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 16}}
	var err error
	w.nc, err = nats.Connect(natsURLs(), nats.SetCustomDialer(natsDialer{w.ctl}), nats.Name("chaos test"),
		nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond), nats.RetryOnFailedConnect(true),
		nats.Timeout(2*time.Second), nats.PingInterval(2*time.Second), nats.MaxPingsOutstanding(2))
	if err != nil {
		return err
	}
	w.js, err = jetstream.New(w.nc)
	return err
}

// startSim runs `iseed sim` standalone in its namespace.
func (w *world) startSim(ctx context.Context) error {
	w.sim = &proc{name: "sim", ns: w.net.ns("sim"), bin: filepath.Join(w.bin, "iseed"),
		args: []string{"sim", "--listen", simAddr + ":8089", "--token", simToken, "--step", w.plan.SimStep.String(),
			"--wallet", "100000000"},
		log: filepath.Join(w.dir, "sim.log")}
	if err := w.sim.start(); err != nil {
		return err
	}
	return waitFor(ctx, 30*time.Second, "the simulator", func() error {
		_, err := w.simCounters(ctx)
		return err
	})
}

// iseedEnv is the environment of both `iseed serve` processes.
func (w *world) iseedEnv(i int) []string {
	return []string{
		"ISEED_NATS_URL=" + natsURLs(),
		"ISEED_REPLICAS=3",
		"ISEED_STORAGE=file",
		"ISEED_VISENGINE_URL=http://" + simAddr + ":8089",
		"ISEED_VISENGINE_TOKEN=" + simToken,
		"ISEED_VISENGINE_TIMEOUT=5s",
		"ISEED_ACK_WAIT=" + w.plan.AckWait.String(),
		"ISEED_TRACK_ACK_WAIT=" + w.plan.AckWait.String(),
		"ISEED_RETRY_MAX_DELAY=15s",
		"ISEED_MAX_AGE=1h",
		"ISEED_RECONCILE_SETTLE=2s",
		"ISEED_POLL_SCHEDULE=2s,3s",
		"ISEED_UPSTREAM_RPS=200",
		"ISEED_UPSTREAM_BURST=50",
		"ISEED_HTTP_LISTEN=" + iseedAddrs[i] + ":8080",
		// Each its own, as each pod's: not ./iseed-data in the source tree,
		// where the records marker of an earlier run's cluster would stop
		// this run's start (serve refuses a records bucket that is gone).
		"ISEED_DATA_DIR=" + filepath.Join(w.dir, fmt.Sprintf("i%d-data", i+1)),
		"ISEED_LOG_LEVEL=info",
		"ISEED_LOG_FORMAT=json",
	}
}

// startIseed starts both `iseed serve` processes at once, as a
// Deployment of two replicas does on a fresh cluster, and waits until
// both answer /readyz. CHAOS_STAGGER (a workaround, not used by the suite)
// starts the second that much later.
func (w *world) startIseed(ctx context.Context, stagger time.Duration) error {
	for i := range iseedAddrs {
		w.iseed = append(w.iseed, &proc{name: fmt.Sprintf("i%d", i+1), ns: w.net.ns(fmt.Sprintf("i%d", i+1)),
			bin: filepath.Join(w.bin, "iseed"), args: []string{"serve"}, env: w.iseedEnv(i),
			log: filepath.Join(w.dir, fmt.Sprintf("i%d.log", i+1))})
	}
	for i, p := range w.iseed {
		if i > 0 && stagger > 0 {
			time.Sleep(stagger)
		}
		if err := p.start(); err != nil {
			return err
		}
	}
	return waitFor(ctx, 2*time.Minute, "both iseed processes ready", func() error {
		for i, p := range w.iseed {
			if !p.running() {
				return stopWaiting(fmt.Errorf("%s exited during start-up (%s); its log ends:\n%s", p.name, p.exitStatus(), p.tail(15)))
			}
			if err := w.get(ctx, "http://"+iseedAddrs[i]+":8080/readyz"); err != nil {
				return err
			}
		}
		return nil
	})
}

// get fetches url from the control namespace and wants 200.
func (w *world) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, strings.TrimSpace(string(b)))
	}
	return nil
}

// leader returns the index of the node leading stream.
func (w *world) leader(ctx context.Context, stream string) (int, error) {
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := w.js.Stream(actx, stream)
	if err != nil {
		return -1, err
	}
	ci := s.CachedInfo().Cluster
	if ci == nil || ci.Leader == "" {
		return -1, fmt.Errorf("stream %s has no leader", stream)
	}
	return nodeIndex(ci.Leader)
}

func nodeIndex(server string) (int, error) {
	for i := range natsAddrs {
		if server == fmt.Sprintf("n%d", i+1) {
			return i, nil
		}
	}
	return -1, fmt.Errorf("unknown server %q", server)
}

// current checks that each stream has a leader and every replica is
// current (caught up).
func (w *world) current(ctx context.Context, streams ...string) error {
	for _, name := range streams {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		s, err := w.js.Stream(actx, name)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ci := s.CachedInfo().Cluster
		if ci == nil || ci.Leader == "" || len(ci.Replicas) != len(natsAddrs)-1 {
			return fmt.Errorf("%s: leader %q, %d replicas", name, leaderOf(ci), replicasOf(ci))
		}
		for _, r := range ci.Replicas {
			if !r.Current || r.Offline {
				return fmt.Errorf("%s: replica %s not current (lag %d)", name, r.Name, r.Lag)
			}
		}
	}
	return nil
}

func leaderOf(ci *jetstream.ClusterInfo) string {
	if ci == nil {
		return ""
	}
	return ci.Leader
}

func replicasOf(ci *jetstream.ClusterInfo) int {
	if ci == nil {
		return 0
	}
	return len(ci.Replicas)
}

// keyStreams are the streams whose health the suite waits for after a
// fault whether or not they exist yet. Streams made at run time, such as
// a tenant's documents bucket (OBJ_iseed_documents_<tenant>), are waited
// for too once they exist: see allStreams.
var keyStreams = []string{"ISEED_SUBMISSIONS", "ISEED_EVENTS", "ISEED_TRACK", "KV_iseed_submissions",
	"KV_iseed_requests", "OBJ_iseed_documents"}

// allStreams is keyStreams and every other stream the cluster holds now.
// A stream missing from the health wait is one whose lost quorum a later
// check meets as a timeout (a document read stalled on
// OBJ_iseed_documents_chaos once, 199 of 200 read back).
func (w *world) allStreams(ctx context.Context) ([]string, error) {
	names := slices.Clone(keyStreams)
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	list := w.js.StreamNames(lctx)
	for name := range list.Name() {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("listing streams: %w", err)
	}
	return names, nil
}

// healthy waits until every node answers /healthz (JetStream current on
// it) and every stream is current everywhere.
func (w *world) healthy(ctx context.Context, within time.Duration) error {
	return waitFor(ctx, within, "the cluster healthy (every node /healthz, every replica current)", func() error {
		for i, a := range natsAddrs {
			if !w.nats[i].running() {
				return fmt.Errorf("n%d is not running", i+1)
			}
			if err := w.get(ctx, "http://"+a+":8222/healthz"); err != nil {
				return err
			}
		}
		names, err := w.allStreams(ctx)
		if err != nil {
			return err
		}
		return w.current(ctx, names...)
	})
}

// close stops every process and removes the network.
func (w *world) close() {
	if w.nc != nil {
		w.nc.Close()
	}
	for _, p := range slices.Concat(w.iseed, []*proc{w.sim}) {
		if p != nil {
			p.stop(5 * time.Second)
		}
	}
	for _, p := range w.nats {
		p.stop(5 * time.Second)
	}
	for _, px := range w.proxies {
		px.close()
	}
	if w.net != nil {
		w.net.close()
	}
}

// errStop wraps an error that must end waitFor at once.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }
func (e errStop) Unwrap() error { return e.err }

func stopWaiting(err error) error { return errStop{err} }

// waitFor polls cond until it returns nil, ctx is done, within has passed
// or cond returns stopWaiting(err).
func waitFor(ctx context.Context, within time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(within)
	tick := 100 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var stop errStop
		if errors.As(err, &stop) {
			return stop.err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s: %w", within, what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(tick):
		}
		tick = min(2*tick, 500*time.Millisecond) // fine enough to time a failover
	}
}
