package consumer

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats.go/jetstream"
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
