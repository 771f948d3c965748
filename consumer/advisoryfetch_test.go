package consumer

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestAdvisoriesWaitWhileTheirConsumerIsGone: a pull for advisories that
// the server answers at once with an error (the consumer gone: an operator
// deleted it or its stream, a stream in memory after a NATS restart, a
// leader election) must not be sent again at once: the fetcher waits a
// second before the next, as it does when a fetch cannot be sent.
func TestAdvisoriesWaitWhileTheirConsumerIsGone(t *testing.T) {
	s := natstest.Run(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	nc, js := natstest.Connect(t, s.ClientURL()) // the fetcher's own, to count what it sends
	defer nc.Close()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ADV", Subjects: []string{"adv"}})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "dead-letterer", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.JS.DeleteConsumer(ctx, "ADV", "dead-letterer"); err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{d: Deps{Resources: &layout.Resources{Advisories: cons}}}
	before, start := nc.Stats().OutMsgs, time.Now()
	wg.Go(func() { _ = p.RunAdvisories(ctx) })
	const window, most = 2 * time.Second, 10
	for time.Since(start) < window {
		if sent := nc.Stats().OutMsgs - before; sent > most {
			t.Fatalf("after %v: got %d pull requests for a consumer that is gone, want at most %d (about one a second)",
				time.Since(start).Round(time.Millisecond), sent, most)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAdvisoriesMadeAgainWhenGone: the advisories stream is deleted (an
// operator, or memory storage after a NATS restart). The fetcher must make
// it and its consumer again, as a start does, and handle the advisories
// published then: without them, a submission that exhausts its deliveries
// is never dead-lettered until the daemon restarts.
func TestAdvisoriesMadeAgainWhenGone(t *testing.T) {
	s := natstest.Run(t)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	res, err := layout.Ensure(ctx, s.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layout
	p := &Pipeline{d: Deps{Resources: res, Publisher: s.JS}, lay: l, log: zerolog.Nop(), rare: zerolog.Nop()}
	wg.Go(func() { _ = p.RunAdvisories(ctx) })
	if err := s.JS.DeleteStream(ctx, l.AdvisoriesStream()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the advisories consumer made again", func() bool {
		_, err := s.JS.Consumer(ctx, l.AdvisoriesStream(), l.AdvisoriesDurable())
		return err == nil
	})
	subject := fmt.Sprintf("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.%s.%s", l.SubmissionsStream(), l.Durable())
	adv := fmt.Sprintf(`{"stream":%q,"consumer":%q,"stream_seq":999,"deliveries":5}`, l.SubmissionsStream(), l.Durable())
	if _, err := s.JS.Publish(ctx, subject, []byte(adv)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "the advisory published after handled (acknowledged)", func() bool {
		c, err := s.JS.Consumer(ctx, l.AdvisoriesStream(), l.AdvisoriesDurable())
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.AckFloor.Stream == 1
	})
}
