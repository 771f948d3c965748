package workpool

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestKeepInProgressHoldsByAnotherReplicasShorterAckWait: every replica
// makes the shared consumer with its own AckWait when it starts, so in a
// rolling restart that shortens it an older replica holds messages under
// the newer one's. KeepInProgress, given the older replica's longer
// AckWait, must still keep the message: otherwise it is delivered to
// another worker while this one holds it (a poll waiting for the budget
// is polled again meanwhile, a submission waiting for a token finds its
// own lease).
func TestKeepInProgressHoldsByAnotherReplicasShorterAckWait(t *testing.T) {
	srv, _ := workStream(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const (
		own   = 6 * time.Second // this (older) replica's
		newer = MinAckWait      // the newer replica's, the shortest a configuration accepts
		hold  = 3 * newer
	)
	cons, err := srv.JS.CreateOrUpdateConsumer(ctx, "WORK", jetstream.ConsumerConfig{Durable: "held",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: newer})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.JS.Publish(ctx, "work.one", []byte("held")); err != nil {
		t.Fatal(err)
	}
	var deliveries atomic.Int32
	released := make(chan int32, 1)
	p := &Pool{Name: "test", Consumer: cons, Workers: 2, HandBack: time.Second, Shutdown: time.Second, Logger: zerolog.Nop(),
		Handle: func(ctx context.Context, msg jetstream.Msg) {
			if deliveries.Add(1) > 1 {
				return // a redelivery while the first is held: left alone
			}
			stop := KeepInProgress(msg, own)
			Sleep(ctx, hold)
			stop()
			released <- deliveries.Load()
			_ = msg.Ack()
		},
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case n := <-released:
		if n != 1 {
			t.Errorf("deliveries of a message held %s by a replica whose AckWait is %s, the consumer's %s: got %d, want 1",
				hold, own, newer, n)
		}
	case <-time.After(hold + 10*time.Second):
		t.Fatal("the held message was never released")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// countedMsg counts its in-progress signals.
type countedMsg struct {
	jetstream.Msg
	n atomic.Int32
}

func (m *countedMsg) InProgress() error { m.n.Add(1); return nil }

// TestKeepInProgressSendsNothingForQuickWork: work that ends within a
// third of the shortest AckWait (a submission whose token is there at
// once) sends no in-progress signal: the hot path costs no message.
func TestKeepInProgressSendsNothingForQuickWork(t *testing.T) {
	m := &countedMsg{}
	stop := KeepInProgress(m, time.Minute)
	Sleep(context.Background(), MinAckWait/3-100*time.Millisecond)
	stop()
	if n := m.n.Load(); n != 0 {
		t.Errorf("in-progress signals for work of %s: got %d, want 0", MinAckWait/3-100*time.Millisecond, n)
	}
}
