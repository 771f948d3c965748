package ledger_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/ledger"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// On a cluster every fetch of an ordered consumer makes a new consumer,
// whose interest may not have reached the client's server when the pull
// request does: the server answers "no responders" (seen in the
// deployment walk, three nodes: 'iseed top' showed "spend today: ledger:
// read: nats: no responders available for request"). noRespondersStream
// answers the fetches fail picks so; a single node never does.
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

// TestEntriesRideOutNoResponders: a fetch answered "no responders" is
// tried again; three in a row still end the read with the error.
func TestEntriesRideOutNoResponders(t *testing.T) {
	for _, tt := range []struct {
		name    string
		fail    func(n int64) bool
		wantErr bool
	}{
		{"the first fetch", func(n int64) bool { return n == 1 }, false},
		{"the first two", func(n int64) bool { return n <= 2 }, false},
		{"every fetch", func(int64) bool { return true }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, srv := newLedger(t)
			at := time.Now().UTC().Truncate(time.Second)
			record(t, l, entry("acme", "r1", at), entry("acme", "r2", at))
			st, err := srv.JS.Stream(context.Background(), ledger.StreamConfig(prefix, 1, jetstream.FileStorage, 0).Name)
			if err != nil {
				t.Fatal(err)
			}
			flaky := ledger.New(srv.JS, noRespondersStream{st, new(atomic.Int64), tt.fail}, ledger.Config{Prefix: prefix})
			got, err := flaky.Entries(context.Background(), at.Add(-time.Hour), at.Add(time.Hour), "")
			if tt.wantErr {
				if err == nil {
					t.Errorf("Entries: got %v and no error, want an error", ids(got))
				}
				return
			}
			if err != nil || len(got) != 2 {
				t.Errorf("Entries: got %v, error %v; want [r1 r2]", ids(got), err)
			}
		})
	}
}
