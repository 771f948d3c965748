package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
)

// streamMaxAges returns how long the submissions, events, DLQ and
// advisories streams keep messages, as the server has them.
func streamMaxAges(t *testing.T, srv *natstest.Server) map[string]time.Duration {
	t.Helper()
	got := map[string]time.Duration{}
	for _, name := range []string{"ISEED_SUBMISSIONS", "ISEED_EVENTS", "ISEED_DLQ", "ISEED_ADVISORIES"} {
		st, err := srv.JS.Stream(context.Background(), name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		got[name] = st.CachedInfo().Config.MaxAge
	}
	return got
}

// checkMaxAges fails the test unless the streams keep messages for
// retention (submissions and events) and dlq (dead letters, advisories).
func checkMaxAges(t *testing.T, srv *natstest.Server, when string, retention, dlq time.Duration) {
	t.Helper()
	want := map[string]time.Duration{"ISEED_SUBMISSIONS": retention, "ISEED_EVENTS": retention, "ISEED_DLQ": dlq, "ISEED_ADVISORIES": dlq}
	for name, got := range streamMaxAges(t, srv) {
		if got != want[name] {
			t.Errorf("%s: %s keeps messages %s, want %s", when, name, got, want[name])
		}
	}
}

// TestServeSetsTheStreamsRetention: iseed serve makes the submissions and
// events streams with ISEED_RETENTION and the dead letters' and
// advisories' with ISEED_DLQ_RETENTION, and a later start with other
// values changes the existing streams to them (shorter: what a
// data-protection officer asks). Operator commands run with the defaults
// (no such variable set where they run) leave the streams as serve made
// them.
func TestServeSetsTheStreamsRetention(t *testing.T) {
	srv := cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "1h")
	t.Setenv("ISEED_RETENTION", "500h")
	t.Setenv("ISEED_DLQ_RETENTION", "1000h")
	t.Setenv("ISEED_RECORD_SCRUB_AFTER", "off")
	startReplica(t)
	checkMaxAges(t, srv, "first start", 500*time.Hour, 1000*time.Hour)

	for _, v := range []string{"ISEED_RETENTION", "ISEED_DLQ_RETENTION", "ISEED_RECORD_SCRUB_AFTER"} {
		os.Unsetenv(v) // t.Setenv above puts each back when the test ends
	}
	for _, args := range [][]string{{"tenant", "init", "acme"}, {"dlq", "list"}, {"schemas", "list"}, {"budget", "list"}, {"spend"}} {
		if _, errOut, code := runCLI(t, args...); code != 0 {
			t.Errorf("%v with the default retentions: exit %d, stderr %q; want 0", args, code, errOut)
		}
	}
	checkMaxAges(t, srv, "after operator commands with the defaults", 500*time.Hour, 1000*time.Hour)

	t.Setenv("ISEED_RETENTION", "200h")
	t.Setenv("ISEED_DLQ_RETENTION", "300h")
	t.Setenv("ISEED_RECORD_SCRUB_AFTER", "324h")
	startReplica(t)
	checkMaxAges(t, srv, "a start with shorter retentions", 200*time.Hour, 300*time.Hour)
}
