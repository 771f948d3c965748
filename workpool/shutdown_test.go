package workpool

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// shutdownAckWait is long enough that a message redelivered within a test
// was handed back, not timed out.
const shutdownAckWait = time.Minute

// workStream makes a stream and durable consumer on a real server and
// publishes n messages "0".."n-1".
func workStream(t *testing.T, n int) (*natstest.Server, jetstream.Consumer) {
	t.Helper()
	srv := natstest.Run(t)
	ctx := context.Background()
	if _, err := srv.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}}); err != nil {
		t.Fatal(err)
	}
	cons, err := srv.JS.CreateOrUpdateConsumer(ctx, "WORK", jetstream.ConsumerConfig{Durable: "pool",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: shutdownAckWait})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := srv.JS.Publish(ctx, "work.one", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return srv, cons
}

// waitFetched waits until handlers have started and the pool holds more
// messages than it started (fetched, waiting for a worker).
func waitFetched(t *testing.T, cons jetstream.Consumer, starts *atomic.Int64, workers int) {
	t.Helper()
	const wait = 30 * time.Second
	for deadline := time.Now().Add(wait); ; time.Sleep(5 * time.Millisecond) {
		info, err := cons.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if starts.Load() == int64(workers) && info.NumAckPending > workers {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %d handlers started, %d messages fetched; want %d started and more fetched",
				wait, starts.Load(), info.NumAckPending, workers)
		}
	}
}

// TestShutdownStartsNothingFetchedAndHandsItBack cancels a pool whose
// workers are all busy while it holds more fetched messages: once ctx is
// done no handler starts, even when the workers free up, and what was
// fetched but not started is handed back at once, so that a new pool gets
// it long before AckWait.
func TestShutdownStartsNothingFetchedAndHandsItBack(t *testing.T) {
	const n, workers = 6, 2
	srv, cons := workStream(t, n)
	var starts atomic.Int64
	release := make(chan struct{})
	p := &Pool{Name: "first", Consumer: cons, Workers: workers, HandBack: 10 * time.Millisecond, Shutdown: time.Minute, Logger: zerolog.Nop(),
		Handle: func(_ context.Context, msg jetstream.Msg) {
			starts.Add(1)
			<-release
			_ = msg.Ack()
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFetched(t, cons, &starts, workers)

	cancel()
	atCancel := starts.Load()
	close(release) // the workers are free: nothing fetched may start now
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still running 20 s after cancel with its handlers released")
	}
	if got := starts.Load() - atCancel; got != 0 {
		t.Errorf("handler starts after cancellation: got %d, want 0", got)
	}

	nc, js := natstest.Connect(t, srv.ClientURL())
	defer nc.Close()
	cons2, err := js.Consumer(context.Background(), "WORK", "pool")
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan string, n)
	second := &Pool{Name: "second", Consumer: cons2, Workers: workers, HandBack: time.Second, Shutdown: time.Second, Logger: zerolog.Nop(),
		Handle: func(_ context.Context, msg jetstream.Msg) { _ = msg.Ack(); handled <- string(msg.Data()) },
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- second.Run(ctx2) }()
	defer func() { cancel2(); <-done2 }()
	want := n - int(starts.Load()) // the first pool acked what it started
	for got := 0; got < want; got++ {
		select {
		case <-handled:
		case <-time.After(10 * time.Second): // well under AckWait: only a hand-back is this quick
			t.Fatalf("the new pool handled %d messages in 10 s, want %d: fetched messages were not handed back", got, want)
		}
	}
}

// TestShutdownBoundCountsFromCancellation cancels a pool whose one worker
// runs a handler that would block far past Shutdown (returning only when
// its context is cancelled) while another message waits for the worker.
// Run must return within Shutdown of the cancellation, as it promises (the
// handler returning at once when cancelled), not Shutdown after the
// handler frees the worker, and must not cut the handler short.
func TestShutdownBoundCountsFromCancellation(t *testing.T) {
	const shutdown = 500 * time.Millisecond
	const slack = 2 * time.Second // scheduling and hand-backs, generous: the promise is shutdown
	_, cons := workStream(t, 3)
	var starts atomic.Int64
	cancelled := make(chan time.Time, 3)
	p := &Pool{Name: "bound", Consumer: cons, Workers: 1, HandBack: 10 * time.Millisecond, Shutdown: shutdown, Logger: zerolog.Nop(),
		Handle: func(ctx context.Context, msg jetstream.Msg) {
			starts.Add(1)
			select {
			case <-ctx.Done():
				cancelled <- time.Now()
				_ = msg.NakWithDelay(10 * time.Millisecond)
			case <-time.After(time.Minute): // a slow upstream POST, outlasting waitFetched: a loaded CI run
				_ = msg.Ack() // once fetched the second message only after a 5 s handler had freed the worker
			}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFetched(t, cons, &starts, 1)

	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still running 30 s after cancel")
	}
	if got := time.Since(start); got > shutdown+slack {
		t.Errorf("Run returned %s after cancel, want within Shutdown (%s) + %s", got.Round(time.Millisecond), shutdown, slack)
	}
	select {
	case at := <-cancelled:
		if got := at.Sub(start); got < shutdown {
			t.Errorf("in-flight handler cancelled %s after cancel, want no sooner than Shutdown (%s)", got.Round(time.Millisecond), shutdown)
		}
	default:
		t.Error("the in-flight handler was never cancelled")
	}
	if got := starts.Load(); got != 1 {
		t.Errorf("handler starts: got %d, want 1", got)
	}
}
