package workpool

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// heldConsumer makes the consumer "held" on the WORK stream with ackWait
// and publishes one message to it.
func heldConsumer(t *testing.T, ackWait time.Duration) (update func(ackWait time.Duration), cons jetstream.Consumer) {
	t.Helper()
	srv, _ := workStream(t, 0)
	ctx := context.Background()
	cfg := jetstream.ConsumerConfig{Durable: "held", AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait}
	cons, err := srv.JS.CreateOrUpdateConsumer(ctx, "WORK", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.JS.Publish(ctx, "work.one", []byte("held")); err != nil {
		t.Fatal(err)
	}
	return func(ackWait time.Duration) { // as another replica started with it does
		t.Helper()
		cfg.AckWait = ackWait
		if _, err := srv.JS.UpdateConsumer(ctx, "WORK", cfg); err != nil {
			t.Fatal(err)
		}
	}, cons
}

// holdOnce runs a pool of two workers on cons whose first delivery is
// held by KeepInProgress(pace) while hold runs, then acked; later
// deliveries are left alone. Its result, called by the test, waits for
// the release, stops the pool and returns the deliveries counted when
// hold returned.
func holdOnce(t *testing.T, cons jetstream.Consumer, pace *Pace, hold func(msg *countedMsg)) (released func() int32) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var deliveries atomic.Int32
	release := make(chan int32, 1)
	p := &Pool{Name: "test", Consumer: cons, Workers: 2, HandBack: time.Second, Shutdown: time.Second, Logger: zerolog.Nop(),
		Handle: func(ctx context.Context, msg jetstream.Msg) {
			if deliveries.Add(1) > 1 {
				return // a redelivery while the first is held: left alone
			}
			m := &countedMsg{Msg: msg, forward: true}
			stop := KeepInProgress(m, pace)
			hold(m)
			stop()
			release <- deliveries.Load()
			_ = msg.Ack()
		},
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() int32 {
		t.Helper()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		select {
		case n := <-release:
			return n
		case <-time.After(time.Minute):
			t.Fatal("the held message was never released")
			return 0
		}
	}
}

// TestKeepInProgressHoldsByAnotherReplicasShorterAckWait: every replica
// makes the shared consumer with its own AckWait when it starts, so in a
// rolling restart that shortens it an older replica holds messages under
// the newer one's. KeepInProgress must keep the message by the
// consumer's AckWait, not by this replica's: otherwise it is delivered to
// another worker while this one holds it (a poll waiting for the budget
// is polled again meanwhile, a submission waiting for a token finds its
// own lease).
func TestKeepInProgressHoldsByAnotherReplicasShorterAckWait(t *testing.T) {
	const (
		newer = MinAckWait // the newer replica's, the shortest a configuration accepts
		hold  = 3 * newer
	)
	_, cons := heldConsumer(t, newer)
	n := holdOnce(t, cons, NewPace(cons), func(*countedMsg) { Sleep(context.Background(), hold) })()
	if n != 1 {
		t.Errorf("deliveries of a message held %s, the consumer's AckWait %s: got %d, want 1", hold, newer, n)
	}
}

// TestKeepInProgressFollowsTheConsumersAckWait: a message held for long
// (a worker waiting for the upstream budget's token) is kept in progress
// every third of its consumer's AckWait as the server has it, not every
// third of the shortest AckWait a configuration accepts (333 ms): three
// messages a second for each message held, each worker, each replica.
func TestKeepInProgressFollowsTheConsumersAckWait(t *testing.T) {
	const (
		ackWait = 6 * time.Second
		hold    = ackWait / 2
	)
	_, cons := heldConsumer(t, ackWait)
	var signals atomic.Int32
	n := holdOnce(t, cons, NewPace(cons), func(m *countedMsg) {
		Sleep(context.Background(), hold)
		signals.Store(m.n.Load())
	})()
	if n != 1 {
		t.Errorf("deliveries of a message held %s, the consumer's AckWait %s: got %d, want 1", hold, ackWait, n)
	}
	if got := signals.Load(); got < 1 || got > 2 {
		t.Errorf("in-progress signals for a message held %s, the consumer's AckWait %s: got %d, want 1 or 2", hold, ackWait, got)
	}
}

// TestKeepInProgressFollowsACutAckWait: another replica started with a
// shorter AckWait cuts the consumer's while a message is held here. The
// held message's signals follow it, and it is not delivered again: cut to
// a half (6 s, then 3 s), then to a half again (1.5 s), the old period (2
// s) would let it. Set back (6 s), they follow it back.
func TestKeepInProgressFollowsACutAckWait(t *testing.T) {
	update, cons := heldConsumer(t, 6*time.Second)
	pace := NewPace(cons)
	// waitFor waits until the pace signals every want.
	waitFor := func(want time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); pace.Every() != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the pace signals every %s; want %s", pace.Every(), want)
			}
		}
	}
	heldMsg, release := make(chan *countedMsg, 1), make(chan struct{})
	released := holdOnce(t, cons, pace, func(m *countedMsg) { heldMsg <- m; <-release })
	defer func() {
		close(release)
		if n := released(); n != 1 {
			t.Errorf("deliveries of a message held while its consumer's AckWait was cut: got %d, want 1", n)
		}
	}()
	<-heldMsg
	waitFor(2 * time.Second)
	update(3 * time.Second)
	waitFor(time.Second)
	update(1500 * time.Millisecond)
	waitFor(500 * time.Millisecond)
	update(6 * time.Second) // back, as a replica configured so restarted
	waitFor(2 * time.Second)
}

// countedMsg counts its in-progress signals, and forwards them when
// forward is set.
type countedMsg struct {
	jetstream.Msg
	forward bool
	n       atomic.Int32
}

func (m *countedMsg) InProgress() error {
	m.n.Add(1)
	if m.forward {
		return m.Msg.InProgress()
	}
	return nil
}

// TestKeepInProgressSendsNothingForQuickWork: work that ends within a
// third of the shortest AckWait (a submission whose token is there at
// once) sends no in-progress signal: the hot path costs no message.
func TestKeepInProgressSendsNothingForQuickWork(t *testing.T) {
	for _, pace := range []*Pace{nil, NewPace(nil)} {
		m := &countedMsg{}
		stop := KeepInProgress(m, pace)
		Sleep(context.Background(), MinAckWait/3-100*time.Millisecond)
		stop()
		if n := m.n.Load(); n != 0 {
			t.Errorf("in-progress signals for work of %s: got %d, want 0", MinAckWait/3-100*time.Millisecond, n)
		}
	}
}
