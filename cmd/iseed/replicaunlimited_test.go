package main

import (
	"slices"
	"testing"
)

// TestServeWarnsOfAReplicaWithoutTheBudget: a replica started with
// ISEED_UPSTREAM_RPS=0 takes no token of the shared budget, so beside
// replicas that keep one it calls the upstream as often as it likes. It
// says so when it starts after one, and one started after it says so too,
// as of any other budget that differs: the rate only, since burst and
// reserve mean nothing without one.
func TestServeWarnsOfAReplicaWithoutTheBudget(t *testing.T) {
	cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "1h")
	t.Setenv("ISEED_WORKERS", "16") // else chosen from the budget, and its MaxAckPending warned of too
	t.Setenv("ISEED_UPSTREAM_RPS", "10")
	startReplica(t)
	t.Setenv("ISEED_UPSTREAM_RPS", "0")
	logs := startReplica(t)
	want := []string{"ISEED_UPSTREAM_RPS: 10 -> 0"}
	if got := settingWarnings(t, logs); !slices.Equal(got, want) {
		t.Errorf("a replica without the budget, beside one with it, warned %q, want %q; logs:\n%s", got, want, logs)
	}
	t.Setenv("ISEED_UPSTREAM_RPS", "10")
	logs = startReplica(t)
	want = []string{"ISEED_UPSTREAM_RPS: 0 -> 10"}
	if got := settingWarnings(t, logs); !slices.Equal(got, want) {
		t.Errorf("a replica with the budget, started after one without it, warned %q, want %q; logs:\n%s", got, want, logs)
	}
}
