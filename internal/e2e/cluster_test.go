package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestThreeNodeClusterReplicatedLayout runs the whole layout with three
// replicas on a three-node cluster, as in production, and a submission
// through it.
func TestThreeNodeClusterReplicatedLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	h := newHarness(t) // the simulator, over HTTP
	js := clusterClient(t, natstest.RunCluster(t))
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

// clusterClient connects to every node of a cluster.
func clusterClient(t *testing.T, urls []string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
