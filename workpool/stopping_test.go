package workpool

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestStoppingEndsWhenShutdownBegins: a handler that only waits (for a
// token of the upstream budget) waits on Stopping(ctx), which ends as the
// pool's shutdown begins, so that the pool returns at once instead of
// Shutdown later; its own ctx stays live meanwhile, for the work that must
// finish.
func TestStoppingEndsWhenShutdownBegins(t *testing.T) {
	_, cons := workStream(t, 1)
	const shutdown = 30 * time.Second
	waiting := make(chan struct{})
	handlerCtxLive := make(chan bool, 1)
	p := &Pool{Name: "test", Consumer: cons, Workers: 1, HandBack: time.Second, Shutdown: shutdown, Logger: zerolog.Nop(),
		Handle: func(ctx context.Context, msg jetstream.Msg) {
			stopping, stop := Stopping(ctx)
			defer stop()
			if ShuttingDown(ctx) {
				t.Error("ShuttingDown before the shutdown began")
			}
			close(waiting)
			<-stopping.Done()
			if !ShuttingDown(ctx) {
				t.Error("ShuttingDown false once the shutdown began")
			}
			handlerCtxLive <- ctx.Err() == nil
			_ = msg.NakWithDelay(time.Second)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case <-waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler never started")
	}
	start := time.Now()
	cancel()
	select {
	case <-done:
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Run returned %s after the shutdown began; want at once", took.Round(time.Millisecond))
		}
	case <-time.After(shutdown - 5*time.Second):
		t.Fatalf("Run still running %s after the shutdown began: the handler waiting on Stopping was not told (the timeout is %s)", shutdown-5*time.Second, shutdown)
	}
	if live := <-handlerCtxLive; !live {
		t.Error("the handler's own context ended with the shutdown's beginning; want it live until the shutdown timeout")
	}
	// Outside a pool, Stopping is its context.
	s, stop := Stopping(context.Background())
	defer stop()
	if s.Err() != nil {
		t.Errorf("Stopping outside a pool: %v, want a live context", s.Err())
	}
	if ShuttingDown(context.Background()) {
		t.Error("ShuttingDown outside a pool, its context live: true, want false")
	}
	ended, end := context.WithCancel(context.Background())
	end()
	if !ShuttingDown(ended) {
		t.Error("ShuttingDown outside a pool, its context ended: false, want true")
	}
}
