package main

import (
	"context"
	"io"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// noResponders is a stream whose ordered consumers' fetches picked by
// fail are answered "no responders", as a cluster's may be when a fetch's
// new consumer is not yet known on the client's server (the deployment
// walk; dlq.List, publisher.ReadEvents and ledger's reads ride it out).
type noResponders struct {
	jetstream.Stream
	fetches *atomic.Int64
	fail    func(n int64) bool
}

func (s noResponders) OrderedConsumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	c, err := s.Stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return noRespondersConsumer{c, s}, nil
}

type noRespondersConsumer struct {
	jetstream.Consumer
	s noResponders
}

func (c noRespondersConsumer) Next(opts ...jetstream.FetchOpt) (jetstream.Msg, error) {
	if c.s.fail(c.s.fetches.Add(1)) {
		return nil, nats.ErrNoResponders
	}
	return c.Consumer.Next(opts...)
}

// TestEraseFindsMessagesThroughNoResponders: iseed erase's search of the
// submissions stream tries a fetch answered "no responders" again, and
// still finds the person's messages; three in a row fail it, never a
// short search taken for the whole one (which would leave messages).
func TestEraseFindsMessagesThroughNoResponders(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	var want []uint64
	for _, id := range []string{"emp-nr-1", "emp-other", "emp-nr-1"} {
		ack, err := srv.JS.Publish(ctx, res.Layout.SubmissionSubject("acme"), []byte(`{"id":"`+id+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		if id == "emp-nr-1" {
			want = append(want, ack.Sequence)
		}
	}
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
			q, c, err := openQueueOn(ctx, io.Discard, false)
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			copied := *c.res
			copied.Submissions = noResponders{c.res.Submissions, new(atomic.Int64), tt.fail}
			c.res = &copied
			got, err := newEraser(c, q, "acme").submissionMessages(ctx, []string{"emp-nr-1"})
			if tt.wantErr {
				if err == nil {
					t.Errorf("got %v and no error, want an error", got)
				}
				return
			}
			if err != nil || !slices.Equal(got["emp-nr-1"], want) {
				t.Errorf("got %v, error %v; want emp-nr-1 at %v", got, err, want)
			}
		})
	}
}
