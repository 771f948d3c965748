package ratelimit_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/ratelimit"
)

// TestReplicatedBucket runs three replicas, each connected to its own node
// of a three-node cluster, on an R3 bucket.
func TestReplicatedBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	urls := natstest.RunCluster(t)
	const rate, burst, run = 40.0, 5, 1500 * time.Millisecond
	var ls []*ratelimit.Limiter
	for _, u := range urls {
		ls = append(ls, newLimiter(t, replicaKV(t, u, 3), ratelimit.Config{Rate: rate, Burst: burst}))
	}
	var g grants
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	t0 := time.Now()
	var waits []func()
	for i, l := range ls {
		waits = append(waits, hammer(ctx, l, fmt.Sprint("node", i+1), ratelimit.Poll, 3, &g))
	}
	for _, w := range waits {
		w()
	}
	elapsed := time.Since(t0)
	at, by := g.snapshot()
	checkBudget(t, at, t0, rate, burst, 0, recordingSlack)
	// The budget is the point; that the limiter does not starve its
	// callers is checked loosely, for a loaded machine (three servers and
	// three limiters on two cores under -race).
	if min := 0.3 * rate * elapsed.Seconds(); float64(len(at)) < min {
		t.Errorf("%d grants in %v, want at least %.0f", len(at), elapsed, min)
	}
	var conflicts, ops uint64
	for _, l := range ls {
		conflicts += l.Stats().Conflicts
		ops += l.Stats().RoundTrips
	}
	t.Logf("%d grants in %v; %d KV operations, %d conflicts; by node %v", len(at), elapsed, ops, conflicts, by)
}
