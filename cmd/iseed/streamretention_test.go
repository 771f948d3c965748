package main

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
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

// retentionWarnings returns "setting stream: found -> own" of each warning
// that a stream's MaxAge was found otherwise.
func retentionWarnings(t *testing.T, logs string) []string {
	t.Helper()
	var got []string
	for line := range strings.Lines(logs) {
		var l struct{ Setting, Stream, Found, Own string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if l.Stream != "" {
			got = append(got, l.Setting+" "+l.Stream+": "+l.Found+" -> "+l.Own)
		}
	}
	return got
}

// TestServeSetsTheStreamsRetention: iseed serve makes the submissions and
// events streams with ISEED_RETENTION and the dead letters' and
// advisories' with ISEED_DLQ_RETENTION, and a later start with other
// values changes the existing streams to them (shorter: what a
// data-protection officer asks). Operator commands run with the defaults
// (no such variable set where they run) leave the streams as serve made
// them. A start that finds the streams set otherwise (by a replica
// configured otherwise) warns, naming the variable, the stream, the value
// found and its own; one that makes them, or finds its own, says nothing.
func TestServeSetsTheStreamsRetention(t *testing.T) {
	srv := cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "1h")
	t.Setenv("ISEED_RETENTION", "500h")
	t.Setenv("ISEED_DLQ_RETENTION", "1000h")
	t.Setenv("ISEED_RECORD_SCRUB_AFTER", "off")
	if logs := startReplica(t); len(retentionWarnings(t, logs)) > 0 {
		t.Errorf("first start warned %q, want nothing; logs:\n%s", retentionWarnings(t, logs), logs)
	}
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
	logs := startReplica(t)
	checkMaxAges(t, srv, "a start with shorter retentions", 200*time.Hour, 300*time.Hour)
	want := []string{"ISEED_RETENTION ISEED_SUBMISSIONS: 500h0m0s -> 200h0m0s", "ISEED_RETENTION ISEED_EVENTS: 500h0m0s -> 200h0m0s",
		"ISEED_DLQ_RETENTION ISEED_DLQ: 1000h0m0s -> 300h0m0s", "ISEED_DLQ_RETENTION ISEED_ADVISORIES: 1000h0m0s -> 300h0m0s"}
	if got := retentionWarnings(t, logs); !slices.Equal(got, want) {
		t.Errorf("a start with shorter retentions warned %q, want %q; logs:\n%s", got, want, logs)
	}
	if !strings.Contains(logs, "every replica must be given the same value") {
		t.Errorf("the warnings do not say to give every replica the same value; logs:\n%s", logs)
	}
	if logs := startReplica(t); len(retentionWarnings(t, logs)) > 0 {
		t.Errorf("a start like that one warned %q, want nothing; logs:\n%s", retentionWarnings(t, logs), logs)
	}
}
