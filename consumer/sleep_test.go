package consumer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
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
