package workpool

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestPoolRecoversFromALostPullRequest runs a pool on a real server through
// a proxy that drops the pool's first pull request, so that the client
// counts on a request the server never holds (what a restarted tracker met
// in CI: messages pending, no waiting request, the pool idle in Next). The
// pool must notice the missing heartbeats and pull again within seconds;
// with nats.go's default expiry (30 s, heartbeat 15 s) it would wait 30 s.
func TestPoolRecoversFromALostPullRequest(t *testing.T) {
	srv := natstest.Run(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := srv.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.JS.CreateOrUpdateConsumer(ctx, "WORK", jetstream.ConsumerConfig{Durable: "pool", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}

	proxy := natstest.NewDropProxy(t, srv.Addr().String())
	var pulls atomic.Int64
	proxy.Drop = func(subject string) bool {
		return strings.HasPrefix(subject, "$JS.API.CONSUMER.MSG.NEXT.WORK.pool") && pulls.Add(1) == 1
	}
	nc, js := natstest.Connect(t, proxy.URL)
	defer nc.Close()
	cons, err := js.Consumer(ctx, "WORK", "pool")
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan string, 1)
	p := &Pool{Name: "test", Consumer: cons, Workers: 1, HandBack: time.Second, Shutdown: time.Second, Logger: zerolog.Nop(),
		Handle: func(_ context.Context, msg jetstream.Msg) { _ = msg.Ack(); handled <- string(msg.Data()) },
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	for deadline := time.Now().Add(10 * time.Second); proxy.Dropped.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) { // the pool's first pull is lost, once it pulls
			t.Fatal("the pool sent no pull request in 10 s")
		}
	}
	start := time.Now()
	if _, err := srv.JS.Publish(ctx, "work.one", []byte("one")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-handled:
		t.Logf("handled %q %s after publication, pulls %d", got, time.Since(start).Round(time.Millisecond), pulls.Load())
	case <-time.After(15 * time.Second):
		t.Fatalf("no message handled 15 s after publication (pulls sent: %d, dropped: %d): the pool still counts on the lost pull request",
			pulls.Load(), proxy.Dropped.Load())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
