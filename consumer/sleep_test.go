package consumer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/workpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// progressCount is a message that counts its in-progress signals.
type progressCount struct {
	jetstream.Msg
	n atomic.Int32
}

func (m *progressCount) InProgress() error { m.n.Add(1); return nil }

// TestSleepInProgressFollowsItsMessagesAckWait: a job waiting keeps its
// message in progress often enough for that message's consumer. An
// advisory's job waits on an advisory, whose consumer's AckWait is
// layout.AdvisoriesAckWait (30 s) whatever ISEED_ACK_WAIT is: with
// ISEED_ACK_WAIT over 90 s, a tick of a third of it let a wait of the
// advisory outlast its AckWait and the advisory be delivered again.
func TestSleepInProgressFollowsItsMessagesAckWait(t *testing.T) {
	srv := natstest.Run(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{AckWait: 3 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	info, err := res.Advisories.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.AckWait != layout.AdvisoriesAckWait {
		t.Fatalf("advisories' AckWait %v; want layout.AdvisoriesAckWait, %v", info.Config.AckWait, layout.AdvisoriesAckWait)
	}
	p := &Pipeline{cfg: Config{Now: time.Now}, lay: res.Layout}
	// A wait a third of an AckWait long, scaled down: the message must be
	// kept in progress during it, not only once it is over.
	m := &progressCount{}
	j := &job{alive: m, aliveWait: 900 * time.Millisecond}
	if !p.sleepInProgress(ctx, j, 900*time.Millisecond) {
		t.Fatal("sleepInProgress interrupted")
	}
	if n := m.n.Load(); n < 3 {
		t.Fatalf("%d in-progress signals in a wait as long as the message's AckWait; want one every third of it", n)
	}
}

// TestSleepInProgressHoldsByAnotherReplicasShorterAckWait: every replica
// makes the submissions consumer with its own ISEED_ACK_WAIT when it
// starts, so the consumer's may be shorter than this replica's (a rolling
// restart that shortens it). A job waiting between its retries must keep
// its message in progress often enough for the shortest AckWait a
// configuration accepts, not only for its own: otherwise the submission
// is delivered to another worker meanwhile.
func TestSleepInProgressHoldsByAnotherReplicasShorterAckWait(t *testing.T) {
	p := &Pipeline{cfg: Config{Now: time.Now}, lay: layout.Layout{AckWait: time.Minute}}
	m := &progressCount{}
	j := &job{alive: m}
	if !p.sleepInProgress(context.Background(), j, workpool.MinAckWait) {
		t.Fatal("sleepInProgress interrupted")
	}
	if n := m.n.Load(); n < 3 {
		t.Fatalf("%d in-progress signals in a wait of %s (this replica's AckWait %s); want one every third of the shortest AckWait another replica may have set",
			n, workpool.MinAckWait, p.lay.AckWait)
	}
}

// TestSleepInProgressFollowsTheConsumersAckWait: a job waiting between its
// retries keeps its submission in progress every third of the consumer's
// AckWait as the server has it (p.pace), not every third of the shortest
// AckWait a configuration accepts (333 ms, three messages a second for
// each waiting job), and the submission is not delivered again while the
// job waits past the AckWait.
func TestSleepInProgressFollowsTheConsumersAckWait(t *testing.T) {
	const (
		ackWait = 3 * time.Second
		wait    = 2 * ackWait
	)
	srv := natstest.Run(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{AckWait: ackWait})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.JS.Publish(ctx, res.Layout.SubmissionSubject("acme"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	batch, err := res.Consumer.Fetch(1, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	msg, ok := <-batch.Messages()
	if !ok {
		t.Fatalf("no submission fetched: %v", batch.Error())
	}
	// The signals as the server gets them, on the message's ack subject.
	var signals atomic.Int32
	sub, err := srv.NC.Subscribe(msg.Reply(), func(m *nats.Msg) {
		if string(m.Data) == "+WPI" {
			signals.Add(1)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := srv.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	// Another worker pulls meanwhile: a delivery again would reach it.
	var again atomic.Int32
	cc, err := res.Consumer.Consume(func(m jetstream.Msg) { again.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Stop()

	p := &Pipeline{cfg: Config{Now: time.Now}, lay: res.Layout, pace: workpool.NewPace(res.Consumer)}
	if !p.sleepInProgress(ctx, &job{msg: msg, alive: msg}, wait) {
		t.Fatal("sleepInProgress interrupted")
	}
	info, err := res.Consumer.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Consumer != 1 || info.NumRedelivered != 0 || again.Load() != 0 {
		t.Errorf("a submission kept in progress for %s, the consumer's AckWait %s: %d deliveries (%d again), want 1",
			wait, ackWait, info.Delivered.Consumer, again.Load())
	}
	// One signal a second (a third of 3 s) in 6 s: 6, give or take the
	// scheduler; 18 every 333 ms.
	for deadline := time.Now().Add(10 * time.Second); signals.Load() < 4; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("in-progress signals in a wait of %s, the consumer's AckWait %s: got %d, want about 6", wait, ackWait, signals.Load())
			break
		}
	}
	if n := signals.Load(); n > 9 {
		t.Errorf("in-progress signals in a wait of %s, the consumer's AckWait %s: got %d, want about 6, one every third of the AckWait", wait, ackWait, n)
	}
	if err := msg.Ack(); err != nil {
		t.Fatal(err)
	}
}
