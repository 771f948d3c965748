package dlq

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// On a cluster every fetch of an ordered consumer makes a new consumer,
// whose interest may not have reached the client's server when the pull
// request does: the server answers "no responders" (seen in the
// deployment walk, three nodes: 'iseed dlq list' failed one run in
// twelve). noRespondersStream answers the fetches fail picks so; a single
// node never does.
type noRespondersStream struct {
	jetstream.Stream
	fetches *atomic.Int64
	fail    func(n int64) bool
}

func (s noRespondersStream) OrderedConsumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	c, err := s.Stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return noRespondersConsumer{c, s}, nil
}

type noRespondersConsumer struct {
	jetstream.Consumer
	s noRespondersStream
}

func (c noRespondersConsumer) Next(opts ...jetstream.FetchOpt) (jetstream.Msg, error) {
	if c.s.fail(c.s.fetches.Add(1)) {
		return nil, nats.ErrNoResponders
	}
	return c.Consumer.Next(opts...)
}

// TestQueueListRidesOutNoResponders: a fetch answered "no responders" is
// tried again, as one that timed out; three in a row end the list with an
// error, never a short list taken for the whole one.
func TestQueueListRidesOutNoResponders(t *testing.T) {
	for _, tt := range []struct {
		name    string
		fail    func(n int64) bool
		wantErr bool
	}{
		{"the first fetch", func(n int64) bool { return n == 1 }, false},
		{"the second and third", func(n int64) bool { return n == 2 || n == 3 }, false},
		{"every fetch after the first", func(n int64) bool { return n >= 2 }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, all := queueWith(t, [3]string{"acme", "a1", ReasonInvalid}, [3]string{"acme", "a2", ReasonInvalid},
				[3]string{"acme", "a3", ReasonExpired})
			q.stream = noRespondersStream{q.stream, new(atomic.Int64), tt.fail}
			got, err := q.List(context.Background(), Filter{})
			if tt.wantErr {
				if err == nil {
					t.Errorf("List: got %d dead letters and no error, want an error", len(got))
				}
				return
			}
			if err != nil || len(got) != len(all) {
				t.Errorf("List: got %d dead letters, error %v; want %d", len(got), err, len(all))
			}
		})
	}
}
