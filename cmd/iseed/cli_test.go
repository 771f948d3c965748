package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/schema"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/rs/zerolog"
)

// cliEnv points the operator commands at a test server, with the daemon's
// other settings on their defaults.
func cliEnv(t *testing.T) *natstest.Server {
	t.Helper()
	srv := natstest.Run(t)
	t.Setenv("ISEED_NATS_URL", srv.ClientURL())
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	return srv
}

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), exitCode(err)
}

func TestSchemasCommands(t *testing.T) {
	cliEnv(t)
	out, errOut, code := runCLI(t, "schemas", "list")
	if code != 0 || !strings.Contains(out, "6aa0789f5ba34684b2bc5ccf364f8929") || !strings.Contains(out, "ISEE CORRENTE") {
		t.Fatalf("schemas list: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "schemas", "show", "isee")
	if code != 0 {
		t.Fatalf("schemas show: exit %d, stderr %q", code, errOut)
	}
	svc, err := schema.Parse([]byte(out))
	if err != nil {
		t.Fatalf("schemas show output %q: %v", out, err)
	}
	if svc.Hash != "6aa0789f5ba34684b2bc5ccf364f8929" || svc.Price != 12 || len(svc.Fields) != 8 || svc.Fields[4].Type != "codice_fiscale_persona_fisica" {
		t.Errorf("schemas show isee: got %+v", svc)
	}
	// What it prints is what iseed validate --schema reads.
	saved := filepath.Join(t.TempDir(), "isee.json")
	if err := os.WriteFile(saved, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if vout, verr, code := runCLI(t, "validate", "--schema", saved, "--input", "testdata/fields.json"); code != 0 || !strings.Contains(vout, `"valid": true`) {
		t.Errorf("validate --schema <schemas show output>: exit %d, stdout %q, stderr %q", code, vout, verr)
	}
	if _, _, code := runCLI(t, "schemas", "show", "no such service"); code != 1 {
		t.Errorf("schemas show of an unknown service: exit %d, want 1", code)
	}
	if _, _, code := runCLI(t, "schemas"); code != 2 {
		t.Errorf("schemas without a verb: exit %d, want 2", code)
	}
}

// TestSubmitStatusDLQ drives the operator commands against a daemon built
// in-process on the simulator.
func TestSubmitStatusDLQ(t *testing.T) {
	srv := cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "1h")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.overviewRefresh = 250 * time.Millisecond // the call rate below shows at the next snapshot, not up to 15 s later
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDaemon(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; d.close() })
	_ = srv

	out, errOut, code := runCLI(t, "submit", "--tenant", "acme", "../../examples/isee.json")
	if code != 0 || strings.TrimSpace(out) != "emp-7781-isee-2026" {
		t.Fatalf("submit: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	var st struct {
		Record struct {
			State     string `json:"state"`
			RequestID string `json:"request_id"`
		} `json:"record"`
		Events []struct{ Type string }
	}
	waitUntil(t, 20*time.Second, "status to show the upstream request and its events", func() bool {
		out, _, code := runCLI(t, "status", "--tenant", "acme", "emp-7781-isee-2026")
		return code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Record.RequestID != "" && len(st.Events) > 0
	})
	if st.Record.RequestID == "" || st.Events[0].Type != "iseed.submission.submitted" {
		t.Errorf("status: got %+v", st)
	}
	if _, _, code := runCLI(t, "status", "--tenant", "acme", "nobody"); code != 1 {
		t.Errorf("status of an unknown submission: exit %d, want 1", code)
	}

	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "../../examples/isee-invalid.json"); code != 0 {
		t.Fatalf("submit invalid: exit %d, stderr %q", code, errOut)
	}
	waitUntil(t, 20*time.Second, "the invalid submission in the DLQ", func() bool {
		out, _, _ := runCLI(t, "dlq", "list", "--reason", "invalid")
		return strings.Contains(out, "emp-7782-isee-2026")
	})
	resp, err := http.Get("http://" + d.admin.ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`iseed_submission_outcomes_total{outcome="done",reason=""}`, `iseed_upstream_create_requests_total{class="ok"} 1`, "go_goroutines"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The POST and the schema's fetch were upstream calls: the overview's
	// next snapshot (every 15 s in production, every 250 ms here) reports
	// a rate above 0.
	callRate := regexp.MustCompile(`(?m)^iseed_upstream_calls_per_second ([0-9.e+-]+)$`)
	var scraped string
	waitUntil(t, 40*time.Second, "a non-zero upstream call rate on /metrics", func() bool {
		resp, err := http.Get("http://" + d.admin.ln.Addr().String() + "/metrics")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := callRate.FindStringSubmatch(string(body))
		if m == nil {
			return false
		}
		scraped = m[0]
		v, err := strconv.ParseFloat(m[1], 64)
		return err == nil && v > 0
	})
	t.Log(scraped)
	if _, errOut, code := runCLI(t, "submit", "--tenant", "bad.tenant", "../../examples/isee.json"); code != 2 {
		t.Errorf("submit with a bad tenant: exit %d, want 2 (stderr %q)", code, errOut)
	}
}

func testLogger(t *testing.T) zerolog.Logger {
	// ISEED_TEST_DEBUG=1 logs everything, to follow a flaky test's daemon.
	if os.Getenv("ISEED_TEST_DEBUG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

// TestBenchCommand runs bench on its embedded server: every phase, the
// paced one for a second (its default, 10 s, is for measuring, not for
// this test; TestBenchAgainstAServer checks what the paced phase prints).
func TestBenchCommand(t *testing.T) {
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	out, errOut, code := runCLI(t, "bench", "--n", "200", "--workers", "8", "--rate-for", "1s")
	if code != 0 || !strings.Contains(out, "throughput:") || !strings.Contains(out, "submissions: 200") {
		t.Fatalf("bench: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestBenchWithATenantQuota: ISEED_TENANT_MAX_SUBMISSIONS and
// ISEED_BUDGETS_FILE in the environment, as in production, are no quota
// and no caps on the bench's own namespace, whose one tenant publishes
// every submission of the run.
func TestBenchWithATenantQuota(t *testing.T) {
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_TENANT_MAX_SUBMISSIONS", "50")
	caps := filepath.Join(t.TempDir(), "caps.json")
	if err := os.WriteFile(caps, []byte(`{"tenant_default": {"daily_requests": 50}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ISEED_BUDGETS_FILE", caps)
	out, errOut, code := runCLI(t, "bench", "--n", "100", "--workers", "4", "--mode", "iseed", "--rate-for", "0")
	if code != 0 || !strings.Contains(out, "submissions: 100") {
		t.Fatalf("bench: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// TestBenchAgainstAServer runs every phase against a server at a URL, as
// docs/performance.md measures: each phase prints its throughput, when its
// first event came, messages per submission (the connection's and the
// server's) and latency percentiles; the ratio comes from the same run; the
// run's streams are removed afterwards.
func TestBenchAgainstAServer(t *testing.T) {
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.HTTPPort, opts.JetStream, opts.StoreDir = -1, -1, true, t.TempDir()
	srv := natstest.RunWithOptions(t, &opts)
	monitor := "http://" + srv.MonitorAddr().String()
	// The server runs in this process: its CPU is read from this
	// process's /proc/PID/stat, as a separate nats-server's would be.
	out, errOut, code := runCLI(t, "bench", "--nats-url", srv.ClientURL(), "--monitor", monitor, "--server-pid", strconv.Itoa(os.Getpid()),
		"--n", "300", "--rate-for", "1s")
	if code != 0 {
		t.Fatalf("bench: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	phases := regexp.MustCompile(`(?m)^(plain pipeline, queued|iseed, queued|iseed, paced): (\d+) submissions.*\n`+
		`  throughput: (\d+) submissions/s \(the first event after (\S+)\)\n`+
		`  longest pause between two events: \S+(?: \(STALLED[^\n]*\))?\n`+
		`  messages per submission, pipeline connection: ([\d.]+) in, ([\d.]+) out; server /varz \(all connections\): ([\d.]+) in, ([\d.]+) out\n`+
		`  CPU per submission: this process ([\d.]+) ms; nats-server ([\d.]+) ms; together ([\d.]+) ms \((\d+\.\d\d) of (\d+) CPUs busy\)\n`+
		`  latency publish→submitted: p50 \S+  p90 \S+  p99 \S+  max \S+\n`).FindAllStringSubmatch(out, -1)
	if len(phases) != 3 {
		t.Fatalf("want the plain, queued and paced phases, each whole; got %d in:\n%s", len(phases), out)
	}
	for _, p := range phases {
		in, _ := strconv.ParseFloat(p[5], 64)
		if first, err := time.ParseDuration(p[4]); p[3] == "0" || in < 1 || err != nil || first <= 0 {
			t.Errorf("%s: throughput %s, first event after %s, %s messages in per submission:\n%s", p[1], p[3], p[4], p[5], out)
		}
		self, _ := strconv.ParseFloat(p[9], 64)
		server, _ := strconv.ParseFloat(p[10], 64)
		together, _ := strconv.ParseFloat(p[11], 64)
		if self <= 0 || server < 0 || together < self || together-self-server > 0.011 || self+server-together > 0.011 {
			t.Errorf("%s: CPU per submission %s ms, the server's %s ms, together %s ms:\n%s", p[1], p[9], p[10], p[11], out)
		}
		// This process counted twice (as the server's too) can keep
		// twice the machine's CPUs busy, no more.
		busy, _ := strconv.ParseFloat(p[12], 64)
		if p[13] != strconv.Itoa(runtime.NumCPU()) || busy <= 0 || busy > 2*float64(runtime.NumCPU())+0.1 {
			t.Errorf("%s: %s of %s CPUs busy; want more than 0, at most twice the machine's %d:\n%s", p[1], p[12], p[13], runtime.NumCPU(), out)
		}
	}
	if !regexp.MustCompile(`(?m)^iseed/plain throughput: \d+\.\d\d(?: \(a phase STALLED[^\n]*\))?$`).MatchString(out) {
		t.Errorf("no ratio in:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^iseed/plain CPU per submission: \d+\.\d\d \(this process and the nats-server\)$`).MatchString(out) {
		t.Errorf("no CPU ratio in:\n%s", out)
	}
	if _, errOut, code := runCLI(t, "bench", "--server-pid", "999999999"); code != 2 || !strings.Contains(errOut, "--server-pid 999999999") {
		t.Errorf("--server-pid of no process: exit %d, stderr %q; want 2, naming it", code, errOut)
	}
	names := srv.JS.StreamNames(context.Background())
	for name := range names.Name() {
		t.Errorf("stream %s left on the server", name)
	}
	if err := names.Err(); err != nil {
		t.Errorf("list streams: %v", err)
	}
}
