package e2e_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/nats-io/nats-server/v2/server"
	natsserver "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// runCluster starts a three-node JetStream cluster in process and returns
// a client connected to all of it.
func runCluster(t *testing.T) jetstream.JetStream {
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
		opts.Cluster = server.ClusterOpts{Name: "iseed-test", Host: "127.0.0.1", Port: ports[i]}
		opts.Routes = routes
		s := natsserver.RunServer(&opts)
		t.Cleanup(s.Shutdown)
		urls = append(urls, s.ClientURL())
	}
	nc, err := nats.Connect(urls[0]+","+urls[1]+","+urls[2], nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 30*time.Second, "the cluster's JetStream to be ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})
	return js
}

// TestThreeNodeClusterReplicatedLayout runs the whole layout with three
// replicas on a three-node cluster, as in production, and a submission
// through it.
func TestThreeNodeClusterReplicatedLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	h := newHarness(t) // the simulator, over HTTP
	js := runCluster(t)
	ctx := context.Background()
	l := layout.Layout{Replicas: 3, AckWait: 3 * time.Second, Duplicates: time.Minute}
	var res *layout.Resources
	pipetest.WaitFor(t, 30*time.Second, "the replicated layout", func() bool {
		var err error
		res, err = layout.Ensure(ctx, js, l)
		return err == nil
	})
	if _, err := layout.Ensure(ctx, js, l); err != nil { // idempotent
		t.Fatalf("second EnsureLayout: %v", err)
	}
	kv := res.Schemas
	info, err := res.Submissions.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("submissions stream: replicas %d, cluster %+v; want 3 (a leader and two peers)", info.Config.Replicas, info.Cluster)
	}
	p, err := consumer.New(consumer.Config{Workers: 2, CallTimeout: 2 * time.Second, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)},
		consumer.Deps{Resources: res, Upstream: h.Client, Schemas: schema.NewCache(h.Client, kv, schema.CacheConfig{Logger: zerolog.Nop()}),
			Files: schema.ObjectStoreSource(js), Events: publisher.New(js, publisher.Config{}), Publisher: js})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = p.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if _, err := js.Publish(ctx, res.Layout.SubmissionSubject(pipetest.Tenant), pipetest.Submission("emp-r3", pipetest.ValidFields("Mario"))); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 30*time.Second, "the submission on the cluster", func() bool {
		r, _, err := record.NewStore(res.Records).Get(ctx, pipetest.Tenant, "emp-r3")
		return err == nil && r.State == record.StateSubmitted
	})
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}
