package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/rs/zerolog"
)

// startReplica starts and closes a daemon as a replica would start, with
// a data directory of its own, and returns its warnings.
func startReplica(t *testing.T) string {
	t.Helper()
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var logs pipetest.Buffer
	d, err := newDaemon(context.Background(), cfg, zerolog.New(&logs).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	d.close()
	return logs.String()
}

// settingWarnings returns "setting: found -> own" of each warning that a
// shared setting was found otherwise.
func settingWarnings(t *testing.T, logs string) []string {
	t.Helper()
	var got []string
	for line := range strings.Lines(logs) {
		var l struct{ Setting, Found, Own string }
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatal(err)
		}
		if l.Setting != "" {
			got = append(got, l.Setting+": "+l.Found+" -> "+l.Own)
		}
	}
	return got
}

// TestServeWarnsOfAnotherReplicasConsumerSettings: every replica makes the
// shared submissions and tracking consumers with its own ISEED_ACK_WAIT
// and ISEED_TRACK_ACK_WAIT (and the submissions consumer with its
// ISEED_MAX_DELIVER, and a MaxAckPending of its ISEED_WORKERS) when it
// starts, and the last started wins. A
// replica that finds them set otherwise says so, naming the setting, the
// value found and its own; one that finds its own says nothing.
func TestServeWarnsOfAnotherReplicasConsumerSettings(t *testing.T) {
	cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "1h")
	t.Setenv("ISEED_ACK_WAIT", "60s")
	t.Setenv("ISEED_TRACK_ACK_WAIT", "2m")
	t.Setenv("ISEED_WORKERS", "16")
	for _, name := range []string{"the first replica", "a replica like it"} {
		if logs := startReplica(t); len(settingWarnings(t, logs)) > 0 {
			t.Errorf("%s: warned %q, want nothing; logs:\n%s", name, settingWarnings(t, logs), logs)
		}
	}
	t.Setenv("ISEED_ACK_WAIT", "30s")
	t.Setenv("ISEED_TRACK_ACK_WAIT", "1m")
	t.Setenv("ISEED_WORKERS", "32")
	logs := startReplica(t)
	want := []string{"ISEED_ACK_WAIT: 1m0s -> 30s", "ISEED_WORKERS: MaxAckPending 64 -> MaxAckPending 128", "ISEED_TRACK_ACK_WAIT: 2m0s -> 1m0s"}
	if got := settingWarnings(t, logs); !slices.Equal(got, want) {
		t.Errorf("a replica with shorter AckWaits warned %q, want %q; logs:\n%s", got, want, logs)
	}
}

// TestServeWarnsOfAnotherReplicasBudget: every replica refills and caps
// the shared upstream budget with its own ISEED_UPSTREAM_RPS and
// ISEED_UPSTREAM_BURST, and its polls leave its own
// ISEED_UPSTREAM_RESERVE. A replica that finds the one started before it
// configured otherwise says so, per setting, with the value found and its
// own; one that finds its own says nothing.
func TestServeWarnsOfAnotherReplicasBudget(t *testing.T) {
	cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "1h")
	t.Setenv("ISEED_UPSTREAM_RPS", "10")
	t.Setenv("ISEED_UPSTREAM_BURST", "10")
	t.Setenv("ISEED_UPSTREAM_RESERVE", "2")
	for _, name := range []string{"the first replica", "a replica like it"} {
		if logs := startReplica(t); len(settingWarnings(t, logs)) > 0 {
			t.Errorf("%s: warned %q, want nothing; logs:\n%s", name, settingWarnings(t, logs), logs)
		}
	}
	t.Setenv("ISEED_UPSTREAM_RPS", "2.5")
	t.Setenv("ISEED_UPSTREAM_RESERVE", "3")
	logs := startReplica(t)
	want := []string{"ISEED_UPSTREAM_RPS: 10 -> 2.5", "ISEED_UPSTREAM_RESERVE: 2 -> 3"}
	if got := settingWarnings(t, logs); !slices.Equal(got, want) {
		t.Errorf("a replica with another budget warned %q, want %q; logs:\n%s", got, want, logs)
	}
}

// TestServeWarnsOfAReplicaWithCapsOtherwise: a replica with
// ISEED_SPENDING_CAPS=false beside ones with caps on sends, uncounted, what
// they hold for a cap or a pause (its holds pass releases every held
// submission: consumer's TestCapsOffReplicaSendsWhatACappedOneHolds).
// Each side says so when it starts after the other; one like the one
// before says nothing.
func TestServeWarnsOfAReplicaWithCapsOtherwise(t *testing.T) {
	cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "1h")
	for _, name := range []string{"the first replica", "a replica like it"} {
		if logs := startReplica(t); len(settingWarnings(t, logs)) > 0 {
			t.Errorf("%s: warned %q, want nothing; logs:\n%s", name, settingWarnings(t, logs), logs)
		}
	}
	for _, c := range []struct{ caps, want string }{
		{"false", "ISEED_SPENDING_CAPS: true -> false"},
		{"true", "ISEED_SPENDING_CAPS: false -> true"},
	} {
		t.Setenv("ISEED_SPENDING_CAPS", c.caps)
		logs := startReplica(t)
		if got, want := settingWarnings(t, logs), []string{c.want}; !slices.Equal(got, want) {
			t.Errorf("a replica with ISEED_SPENDING_CAPS=%s warned %q, want %q; logs:\n%s", c.caps, got, want, logs)
		}
	}
}
