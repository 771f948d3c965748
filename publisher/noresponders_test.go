package publisher_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// On a cluster, every fetch of an ordered consumer makes a new consumer,
// and its pull request can reach the client's server before the new
// consumer's interest does: the server answers "no responders" (seen in
// the deployment walk, three nodes: 'iseed status' ended one run in six
// with "the list is incomplete … no responders available for request").
// The wrappers below answer the nth fetch so; a single node never does.

type noRespondersJS struct {
	jetstream.JetStream
	fetches *atomic.Int64
	fail    func(n int64) bool
}

func (j noRespondersJS) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	s, err := j.JetStream.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return noRespondersStream{s, j}, nil
}

type noRespondersStream struct {
	jetstream.Stream
	js noRespondersJS
}

func (s noRespondersStream) OrderedConsumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	c, err := s.Stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return noRespondersConsumer{c, s.js}, nil
}

type noRespondersConsumer struct {
	jetstream.Consumer
	js noRespondersJS
}

func (c noRespondersConsumer) Next(opts ...jetstream.FetchOpt) (jetstream.Msg, error) {
	if c.js.fail(c.js.fetches.Add(1)) {
		return nil, nats.ErrNoResponders
	}
	return c.Consumer.Next(opts...)
}

// TestReadEventsRidesOutNoResponders: a fetch answered "no responders"
// while events remain is tried again, as a fetch that timed out is; the
// whole list comes back. Three in a row still end it, incomplete.
func TestReadEventsRidesOutNoResponders(t *testing.T) {
	s := publisher.SubjectsFor("")
	for _, tt := range []struct {
		name     string
		fail     func(n int64) bool
		wantErr  bool
		wantRead int
	}{
		{"the second fetch", func(n int64) bool { return n == 2 }, false, 3},
		{"the second and third", func(n int64) bool { return n == 2 || n == 3 }, false, 3},
		{"every fetch after the first", func(n int64) bool { return n >= 2 }, true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inner, _ := eventsThrough(t, func(int64) bool { return false })
			js := noRespondersJS{JetStream: inner, fetches: new(atomic.Int64), fail: tt.fail}
			got, err := publisher.ReadEvents(context.Background(), js, "EV", s, "acme", "s1")
			if (err != nil) != tt.wantErr || len(got) != tt.wantRead {
				t.Errorf("ReadEvents: got %d events and error %v, want %d events and an error: %v", len(got), err, tt.wantRead, tt.wantErr)
			}
		})
	}
}
