package consumer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go/jetstream"
)

// flakyWalletEvents publishes events, but its first fails account events
// are not taken, as while the events stream's leader moves to another
// node (seen in the deployment walk: nats-3 killed, "no response from
// stream").
type flakyWalletEvents struct {
	*publisher.Publisher
	mu        sync.Mutex
	fails     int
	published []string
}

func (f *flakyWalletEvents) Account(ctx context.Context, e publisher.AccountEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return fmt.Errorf("publisher: publish %s: %w", e.Type, jetstream.ErrNoStreamResponse)
	}
	if err := f.Publisher.Account(ctx, e); err != nil {
		return err
	}
	f.published = append(f.published, e.Type)
	return nil
}

func (f *flakyWalletEvents) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.published...)
}

// TestWalletEmptyEventSurvivesAStreamFailover: the 402 comes while the
// events stream cannot take the wallet_empty event; it is published once
// the stream takes messages again, not lost with a warning.
func TestWalletEmptyEventSurvivesAStreamFailover(t *testing.T) {
	h := newHarness(t)
	events := &flakyWalletEvents{Publisher: publisher.New(h.NATS.JS, publisher.Config{}), fails: 2}
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Events = events }),
		pipetest.WithUpstream(brokeUpstream{h.Client}),
		pipetest.WithConfig(func(c *consumer.Config) { c.WalletProbe = time.Hour }))
	h.Publish(pipetest.Submission("emp-1", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 30*time.Second, "the wallet_empty event published", func() bool {
		return len(events.got()) > 0
	})
	if got := events.got(); len(got) != 1 || got[0] != publisher.AccountWalletEmpty {
		t.Errorf("account events published: got %v, want [%s]", got, publisher.AccountWalletEmpty)
	}
}
