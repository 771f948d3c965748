package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go/jetstream"
)

// TestMain lets the test binary run as the iseed command, so that crash
// tests can start real daemon subprocesses: ISEED_TEST_AS_MAIN=1 with the
// arguments in ISEED_TEST_ARGS.
func TestMain(m *testing.M) {
	if os.Getenv("ISEED_TEST_AS_MAIN") == "1" {
		os.Args = append([]string{"iseed"}, strings.Fields(os.Getenv("ISEED_TEST_ARGS"))...)
		main()
	}
	os.Exit(m.Run())
}

// daemon is an `iseed serve` subprocess.
type daemonProc struct {
	cmd *exec.Cmd
	out *pipetest.Buffer
}

func startDaemon(t *testing.T, env ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	// A data directory of its own unless the test names one: even on an
	// external server, iseed spools documents there, and the default is
	// the working directory, the source tree.
	base := []string{"ISEED_TEST_AS_MAIN=1", "ISEED_TEST_ARGS=serve", "ISEED_DATA_DIR=" + t.TempDir()}
	cmd.Env = append(os.Environ(), append(base, env...)...)
	d := &daemonProc{cmd: cmd, out: &pipetest.Buffer{}}
	cmd.Stdout, cmd.Stderr = d.out, d.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("daemon output:\n%s", d.out.String())
		}
	})
	return d
}

// simFor serves a simulator made from cfg over loopback HTTP until the
// test ends, and returns it, its URL, and what an `iseed serve` on srv
// needs to use it: the NATS URL, the simulator's URL and token, and its
// two listeners on free loopback ports. A test adds its own settings.
func simFor(t *testing.T, srv *natstest.Server, cfg sim.Config) (s *sim.Server, simURL string, env []string) {
	t.Helper()
	s = sim.New(cfg)
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	return s, hs.URL, []string{"ISEED_NATS_URL=" + srv.ClientURL(), "ISEED_VISENGINE_URL=" + hs.URL, "ISEED_VISENGINE_TOKEN=" + cfg.Token,
		"ISEED_HTTP_LISTEN=127.0.0.1:0", "ISEED_CALLBACK_LISTEN=127.0.0.1:0"}
}

// awaitLayout waits until a daemon started on srv has made its streams and
// buckets (the default subject prefix), and returns the records bucket.
func awaitLayout(t *testing.T, srv *natstest.Server) jetstream.KeyValue {
	t.Helper()
	ctx := context.Background()
	var records jetstream.KeyValue
	waitUntil(t, 30*time.Second, "the daemon to create the layout", func() bool {
		_, err := srv.JS.Stream(ctx, "ISEED_SUBMISSIONS")
		if err == nil {
			records, err = srv.JS.KeyValue(ctx, "iseed_submissions")
		}
		return err == nil
	})
	return records
}

// TestCrashBetweenAnswerAndRecord kills the daemon (SIGKILL) while the
// upstream has created and charged the request but iseed has not recorded
// it, then starts another: the submission never gets a second request.
// With callbacks on, the POST carried the submission's marker and the
// request is adopted, and polled at once; without them, on the published
// profile (no echo of the input), nothing proves whose the request is: the
// submission is dead-lettered as ambiguous for a person, and nothing is
// sent again.
func TestCrashBetweenAnswerAndRecord(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	callbacks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(callbacks.Close)
	tests := []struct {
		name    string
		profile sim.Profile
		env     []string
		want    string // the record's state waited for
	}{
		// Adopted, the request is polled at once (its first scheduled poll
		// is hours away): In erogazione upstream, in_progress here.
		{"callbacks on, no echo: adopted by its marker", sim.ProfilePublished, []string{"ISEED_PUBLIC_URL=" + callbacks.URL}, record.StateInProgress},
		{"no callbacks, no echo: ambiguous", sim.ProfilePublished, nil, record.StateFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, s := crashMidPost(t, tt.profile, tt.env)
			waitUntil(t, 60*time.Second, "the submission "+tt.want, func() bool { return rec().State == tt.want })
			r := rec()
			if got := s.Counters()["created"]; got != 1 {
				t.Errorf("upstream requests: got %d, want 1", got)
			}
			if got := s.Counters()["POST /richiesta"]; got != 1 {
				t.Errorf("POST /richiesta calls: got %d, want 1 (the reconciliation never re-sends)", got)
			}
			switch tt.want {
			case record.StateInProgress:
				if !slices.Contains(r.Timeline, record.Transition{State: record.StateSubmitted, At: submittedAt(r), Note: "reconciled"}) {
					t.Errorf("timeline %+v: want the request adopted by reconciliation", r.Timeline)
				}
			case record.StateFailed:
				if r.Reason != dlq.ReasonAmbiguous || r.RequestID != "" {
					t.Errorf("record: reason %q, request %q; want ambiguous, none adopted", r.Reason, r.RequestID)
				}
			}
		})
	}
}

// crashMidPost runs a daemon until the simulator has created (and charged)
// the request of examples/isee.json while the POST hangs, kills it, and
// starts another; it returns a reader of the submission's record.
func crashMidPost(t *testing.T, profile sim.Profile, extra []string) (func() record.Record, *sim.Server) {
	srv := natstest.Run(t)
	s, _, env := simFor(t, srv, sim.Config{Token: "crash-token", Step: time.Hour, Profile: profile,
		Faults: sim.Faults{CommitThenFail: sim.CommitThenFail{Mode: sim.ModeHang, Next: 1}}})
	env = append(append(env, "ISEED_ACK_WAIT=2s", "ISEED_WORKERS=2", "ISEED_VISENGINE_TIMEOUT=60s",
		"ISEED_LOG_LEVEL=debug", "ISEED_RECONCILE_SETTLE=1s", "ISEED_ADOPT_GRACE=2s"), extra...)
	first := startDaemon(t, env...)
	ctx := context.Background()
	awaitLayout(t, srv)
	event, err := os.ReadFile("../../examples/isee.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.JS.Publish(ctx, "iseed.submissions.acme", event); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the upstream to create the request", func() bool { return s.Counters()["created"] == 1 })
	if err := first.cmd.Process.Kill(); err != nil { // the POST is still waiting for its answer
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	startDaemon(t, env...)
	records, err := srv.JS.KeyValue(ctx, "iseed_submissions")
	if err != nil {
		t.Fatal(err)
	}
	return func() record.Record {
		var rec record.Record
		if e, err := records.Get(ctx, "acme.emp-7781-isee-2026"); err == nil {
			_ = json.Unmarshal(e.Value(), &rec)
		}
		return rec
	}, s
}

func submittedAt(r record.Record) time.Time {
	for _, tr := range r.Timeline {
		if tr.State == record.StateSubmitted {
			return tr.At
		}
	}
	return time.Time{}
}

// recordWaiter returns a wait, up to timeout, until the record of a
// tenant's submission in res's records bucket satisfies ok; the wait
// returns that record.
func recordWaiter(t *testing.T, res *layout.Resources, timeout time.Duration) func(tenant, id string, ok func(*record.Record) bool) *record.Record {
	store := record.NewStore(res.Records)
	return func(tenant, id string, ok func(*record.Record) bool) *record.Record {
		t.Helper()
		var rec *record.Record
		waitUntil(t, timeout, tenant+"/"+id, func() bool {
			r, _, err := store.Get(context.Background(), tenant, id)
			rec = r
			return err == nil && ok(r)
		})
		return rec
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			// ISEED_TEST_DUMP=DIR keeps every goroutine's stack of a wait
			// that timed out: a hung worker shows there.
			if dir := os.Getenv("ISEED_TEST_DUMP"); dir != "" {
				buf := make([]byte, 1<<24)
				n := runtime.Stack(buf, true)
				_ = os.WriteFile(filepath.Join(dir, fmt.Sprintf("stack-%d.txt", time.Now().UnixNano())), buf[:n], 0o644)
			}
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
