package workpool

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// fakeMsg records how it was settled.
type fakeMsg struct {
	jetstream.Msg
	n      int
	handed chan<- int
}

func (m *fakeMsg) NakWithDelay(time.Duration) error { m.handed <- m.n; return nil }

// fakeIter hands out what the test sends on msgs until drained or stopped.
type fakeIter struct {
	msgs    <-chan jetstream.Msg
	nexts   *atomic.Int32 // Next calls so far, across iterators
	drained chan struct{}
	once    sync.Once
}

func (it *fakeIter) Next(...jetstream.NextOpt) (jetstream.Msg, error) {
	it.nexts.Add(1)
	select {
	case m := <-it.msgs:
		return m, nil
	case <-it.drained:
		return nil, jetstream.ErrMsgIteratorClosed
	}
}
func (it *fakeIter) Drain() { it.once.Do(func() { close(it.drained) }) }
func (it *fakeIter) Stop()  { it.Drain() }

// fakeConsumer counts pulls (Messages calls); each gets a new iterator on msgs.
type fakeConsumer struct {
	jetstream.Consumer
	msgs  chan jetstream.Msg
	nexts atomic.Int32
	pulls atomic.Int32
}

func (c *fakeConsumer) Messages(...jetstream.PullMessagesOpt) (jetstream.MessagesContext, error) {
	c.pulls.Add(1)
	return &fakeIter{msgs: c.msgs, nexts: &c.nexts, drained: make(chan struct{})}, nil
}

// TestPausedPoolHandsBackAndNeverPulls drives the pool with a fake consumer:
// while Paused says so, a message already fetched is handed back rather than
// handled, and the fetch loop goes round without ever pulling again.
func TestPausedPoolHandsBackAndNeverPulls(t *testing.T) {
	cons := &fakeConsumer{msgs: make(chan jetstream.Msg)}
	var paused atomic.Bool
	checks := make(chan struct{}, 1000) // one per Paused call
	handled, handedBack := make(chan int, 10), make(chan int, 10)
	p := &Pool{Name: "test", Consumer: cons, Workers: 1, HandBack: time.Second, Shutdown: time.Second, Logger: zerolog.Nop(),
		Handle: func(_ context.Context, msg jetstream.Msg) { handled <- msg.(*fakeMsg).n },
		Paused: func() bool { checks <- struct{}{}; return paused.Load() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()

	cons.msgs <- &fakeMsg{n: 1, handed: handedBack}
	if got := <-handled; got != 1 {
		t.Fatalf("handled: got message %d, want 1", got)
	}
	for cons.nexts.Load() < 2 { // the pool waits in Next again, past its pause check
		runtime.Gosched()
	}
	paused.Store(true)
	cons.msgs <- &fakeMsg{n: 2, handed: handedBack} // fetched before the pause was seen
	if got := <-handedBack; got != 2 {
		t.Fatalf("handed back: got message %d, want 2", got)
	}
	pulls := cons.pulls.Load()
	for len(checks) > 0 { // from here on, count the loop's rounds
		<-checks
	}
	for range 3 { // the fetch loop goes round three times while paused...
		<-checks
	}
	if got := cons.pulls.Load(); got != pulls { // ...and never pulls
		t.Errorf("pulls while paused: got %d more, want none", got-pulls)
	}
	select {
	case n := <-handled:
		t.Errorf("handled message %d while paused", n)
	default:
	}
	paused.Store(false)
	cons.msgs <- &fakeMsg{n: 3, handed: handedBack}
	if got := <-handled; got != 3 {
		t.Fatalf("after the pause: got message %d, want 3", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
