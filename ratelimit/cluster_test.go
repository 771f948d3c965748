package ratelimit_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/ratelimit"
	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runCluster starts a three-node JetStream cluster in process and returns
// each node's client URL.
func runCluster(t *testing.T) []string {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	var urls []string
	for i := range 3 {
		opts := natsserver.DefaultTestOptions
		opts.Port = -1
		opts.ServerName = fmt.Sprintf("n%d", i+1)
		opts.JetStream = true
		opts.StoreDir = t.TempDir()
		opts.Cluster = server.ClusterOpts{Name: "ratelimit-test", Host: "127.0.0.1", Port: ports[i]}
		opts.Routes = routes
		s := natsserver.RunServer(&opts)
		t.Cleanup(s.Shutdown)
		urls = append(urls, s.ClientURL())
	}
	nc, err := nats.Connect(urls[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := js.AccountInfo(ctx)
		cancel()
		if err == nil {
			return urls
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster's JetStream is not ready after 30s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReplicatedBucket runs three replicas, each connected to its own node
// of a three-node cluster, on an R3 bucket.
func TestReplicatedBucket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	urls := runCluster(t)
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
	checkBudget(t, at, t0, rate, burst, 0, 2)
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
