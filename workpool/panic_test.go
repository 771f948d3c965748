package workpool

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// lockedBuffer is a log sink the pool's goroutines write to while the test
// reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestHandlerPanicKeepsThePoolRunning: a handler that panics on a message
// (a poison tracking task, say: its consumer redelivers for ever) must not
// end the process, and with it every other pool of the replica, nor, as
// the message goes to the next replica, the deployment. The pool logs the
// panic, without the panic's value (it may quote a person's data), keeps
// handling the other messages, and leaves the message to be redelivered
// after AckWait.
func TestHandlerPanicKeepsThePoolRunning(t *testing.T) {
	srv, _ := workStream(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ackWait = time.Second
	cons, err := srv.JS.CreateOrUpdateConsumer(ctx, "WORK", jetstream.ConsumerConfig{Durable: "panic",
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"poison", "fine"} {
		if _, err := srv.JS.Publish(ctx, "work.one", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	var logs lockedBuffer
	handled := make(chan string, 4)
	p := &Pool{Name: "test", Consumer: cons, Workers: 1, HandBack: time.Second, Shutdown: time.Second, Logger: zerolog.New(&logs),
		Handle: func(_ context.Context, msg jetstream.Msg) {
			meta, err := msg.Metadata()
			if err != nil {
				t.Error(err)
				return
			}
			if string(msg.Data()) == "poison" && meta.NumDelivered == 1 {
				panic("cannot read RSSMRA80A01H501U")
			}
			_ = msg.Ack()
			handled <- string(msg.Data())
		},
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case m := <-handled:
			got[m] = true
		case <-time.After(10 * ackWait):
			t.Fatalf("handled %v in %v, want both messages, the poison one redelivered", got, 10*ackWait)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "panic") || strings.Contains(l, "RSSMRA80A01H501U") {
		t.Errorf("log: got %s, want the panic said, without its value", l)
	}
}
