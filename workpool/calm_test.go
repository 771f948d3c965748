package workpool

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// pendingMsg is a delivered message whose metadata says how many more wait
// on the server.
type pendingMsg struct {
	jetstream.Msg
	pending uint64
}

func (m pendingMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumPending: m.pending}, nil
}

// TestAdmitCalmUnlessABacklog: while the consumer has no backlog a message
// starts only when fewer than Calm are handled; with one, when fewer than
// Workers are; a message that cannot start waits until one ends, or until
// its context does.
func TestAdmitCalmUnlessABacklog(t *testing.T) {
	p := &Pool{Workers: 4, Calm: 2, freed: make(chan struct{}, 1)}
	calm, backlog := pendingMsg{pending: 0}, pendingMsg{pending: 100}
	live := context.Background()
	ended, cancel := context.WithCancel(live)
	cancel() // admit returns false at once if it would wait
	for i := range 2 {
		if !p.admit(ended, calm) {
			t.Fatalf("calm message %d refused with %d handled", i+1, i)
		}
	}
	if p.admit(ended, calm) {
		t.Fatal("a third calm message started beside two: Calm is 2")
	}
	for i := range 2 {
		if !p.admit(ended, backlog) {
			t.Fatalf("a message with a backlog refused with %d handled of 4 workers", 2+i)
		}
	}
	if p.admit(ended, backlog) {
		t.Fatal("a fifth message started: Workers is 4")
	}
	p.release()
	if p.admit(ended, calm) {
		t.Fatal("a calm message started with 3 handled")
	}
	started := make(chan bool)
	go func() { started <- p.admit(live, calm) }() // waits for two to end
	p.release()
	p.release()
	if !<-started {
		t.Fatal("a calm message waiting for a turn did not start once one was free")
	}
	for _, c := range []int{0, 4, 9} { // no Calm, or not below Workers: always Workers
		q := &Pool{Workers: 4, Calm: c, freed: make(chan struct{}, 1)}
		for i := range 4 {
			if !q.admit(ended, calm) {
				t.Fatalf("Calm %d: calm message %d refused with %d handled of 4 workers", c, i+1, i)
			}
		}
	}
}

// TestPoolUsesEveryWorkerOnlyForABacklog runs a pool of 6 workers, Calm 2,
// on a real server: a backlog of 30 messages is handled 6 at a time;
// messages published one by one, each delivered before the next is
// published (nothing waiting on the server), at most 2 at a time.
func TestPoolUsesEveryWorkerOnlyForABacklog(t *testing.T) {
	const workers, calm = 6, 2
	srv, cons := workStream(t, 30)
	var mu sync.Mutex
	running, most, done := 0, 0, 0
	gate, opened := make(chan struct{}), false
	open := func() { // the handlers waiting go on, and those after them
		mu.Lock()
		defer mu.Unlock()
		if !opened {
			close(gate)
			opened = true
		}
	}
	p := &Pool{Name: "test", Consumer: cons, Workers: workers, Calm: calm, HandBack: time.Second, Shutdown: time.Second, Logger: zerolog.Nop(),
		Handle: func(ctx context.Context, msg jetstream.Msg) {
			mu.Lock()
			running++
			most = max(most, running)
			g := gate
			mu.Unlock()
			<-g
			mu.Lock()
			running--
			done++
			mu.Unlock()
			_ = msg.Ack()
		},
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("waiting for %s: running %d, most %d, done %d", what, running, most, done)
			}
		}
	}
	is := func(f func() bool) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return f() }
	}
	// The server counts what is pending after the publications are stored, a
	// little later: a delivery's NumPending may say less until then.
	waitFor("the backlog counted", func() bool {
		info, err := cons.Info(context.Background())
		return err == nil && info.NumPending == 30
	})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- p.Run(ctx) }()
	defer func() { open(); cancel(); <-stopped }()
	waitFor("every worker busy with the backlog", is(func() bool { return running == workers }))
	open()
	waitFor("the backlog handled", is(func() bool { return done == 30 }))

	mu.Lock()
	gate, opened, most = make(chan struct{}), false, 0
	mu.Unlock()
	for i := range 5 {
		if _, err := srv.JS.Publish(context.Background(), "work.one", fmt.Appendf(nil, "trickle %d", i)); err != nil {
			t.Fatal(err)
		}
		waitFor("the message delivered", func() bool {
			info, err := cons.Info(context.Background())
			return err == nil && info.NumAckPending == i+1
		})
	}
	waitFor("two trickled messages started", is(func() bool { return running == calm }))
	open()
	waitFor("the trickle handled", is(func() bool { return done == 35 }))
	mu.Lock()
	defer mu.Unlock()
	if most != calm {
		t.Errorf("%d messages with nothing waiting on the server were handled at once; want at most Calm, %d", most, calm)
	}
}
