package natstest

import (
	"context"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// On a cluster every fetch of an ordered consumer makes a new consumer,
// whose interest may not have reached the client's server when the pull
// request does: the server answers "no responders" (seen in the
// deployment walk, three nodes: 'iseed status', 'iseed top' and 'iseed
// dlq list' failed one run in six to twelve). A single node never does;
// these wrappers make it happen where a test picks.

// NoResponders is a stream whose ordered consumers answer the fetches
// fail picks with "no responders": Next returns nats.ErrNoResponders,
// Fetch a batch with no messages whose Error is it. Fetches are numbered
// from 1 across every consumer of the stream.
type NoResponders struct {
	jetstream.Stream
	fetches *atomic.Int64
	fail    func(n int64) bool
}

// NewNoResponders wraps s, its fetches picked by fail.
func NewNoResponders(s jetstream.Stream, fail func(n int64) bool) NoResponders {
	return NoResponders{Stream: s, fetches: new(atomic.Int64), fail: fail}
}

// OrderedConsumer implements jetstream.Stream.
func (s NoResponders) OrderedConsumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	c, err := s.Stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return noRespondersConsumer{c, s}, nil
}

type noRespondersConsumer struct {
	jetstream.Consumer
	s NoResponders
}

func (c noRespondersConsumer) Next(opts ...jetstream.FetchOpt) (jetstream.Msg, error) {
	if c.s.fail(c.s.fetches.Add(1)) {
		return nil, nats.ErrNoResponders
	}
	return c.Consumer.Next(opts...)
}

func (c noRespondersConsumer) Fetch(batch int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	if c.s.fail(c.s.fetches.Add(1)) {
		return noResponse{}, nil
	}
	return c.Consumer.Fetch(batch, opts...)
}

// noResponse is a fetch the server answered with no responders.
type noResponse struct{}

func (noResponse) Messages() <-chan jetstream.Msg {
	ch := make(chan jetstream.Msg)
	close(ch)
	return ch
}

func (noResponse) Error() error { return nats.ErrNoResponders }

// NoRespondersJS is a JetStream whose streams are NoResponders, sharing
// one count of fetches.
type NoRespondersJS struct {
	jetstream.JetStream
	fetches *atomic.Int64
	fail    func(n int64) bool
}

// NewNoRespondersJS wraps js, its streams' fetches picked by fail.
func NewNoRespondersJS(js jetstream.JetStream, fail func(n int64) bool) NoRespondersJS {
	return NoRespondersJS{JetStream: js, fetches: new(atomic.Int64), fail: fail}
}

// Stream implements jetstream.JetStream.
func (j NoRespondersJS) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	s, err := j.JetStream.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	return NoResponders{Stream: s, fetches: j.fetches, fail: j.fail}, nil
}
