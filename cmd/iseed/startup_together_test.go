package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestReplicasStartTogether starts two daemons at once on a fresh
// three-node cluster with ISEED_REPLICAS=3, as a Deployment of two replicas
// does (issue 13): both must come up, whichever creates what first, and
// without waiting out lost JetStream API answers.
func TestReplicasStartTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	t.Setenv("ISEED_NATS_URL", runCluster(t))
	t.Setenv("ISEED_REPLICAS", "3")
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	// No deadline on ctx (see ensureLayout): the test bounds the wait itself.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	took := make([]time.Duration, 2)
	for i := range errs {
		wg.Go(func() {
			start := time.Now()
			d, err := newDaemon(ctx, cfg, testLogger(t))
			took[i], errs[i] = time.Since(start), err
			if err == nil {
				d.close()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cancel()
		<-done
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: got %v after %s, want it up", i, err, took[i].Round(time.Millisecond))
		} else if took[i] > 5*time.Second {
			t.Errorf("replica %d: up after %s, want under 5s (the JetStream API timeout: an answer was lost)", i, took[i].Round(time.Millisecond))
		}
	}
}

// runCluster starts a fresh three-node JetStream cluster in process and
// returns its client URLs, comma-separated, once it has a JetStream meta
// leader (as when iseed is deployed on a running cluster).
func runCluster(t *testing.T) string {
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
	for i := range ports {
		opts := natsserver.DefaultTestOptions
		opts.Port = -1
		opts.ServerName = fmt.Sprintf("n%d", i+1)
		opts.JetStream = true
		opts.StoreDir = t.TempDir()
		opts.Cluster = server.ClusterOpts{Name: "iseed-start", Host: "127.0.0.1", Port: ports[i]}
		opts.Routes = routes
		s := natsserver.RunServer(&opts)
		t.Cleanup(s.Shutdown)
		urls = append(urls, s.ClientURL())
	}
	all := strings.Join(urls, ",")
	nc, err := nats.Connect(all)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitUntil(t, 30*time.Second, "the cluster's JetStream meta leader", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})
	return all
}
