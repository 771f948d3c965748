package layout

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoLayout means the JetStream resources do not exist yet: no daemon has
// created them.
var ErrNoLayout = errors.New("the iseed streams and buckets do not exist yet (start `iseed serve` first)")

// Open binds to the existing streams, consumers and buckets without
// creating or changing anything: for operator commands, which must never
// rewrite a running daemon's settings (AckWait, the documents' TTL) with
// their own. Resources.Advisories stays nil.
func Open(ctx context.Context, js jetstream.JetStream, l Layout) (*Resources, error) {
	l = l.WithDefaults()
	r := &Resources{Layout: l}
	var err error
	stream := func(name string, out *jetstream.Stream) error {
		*out, err = js.Stream(ctx, name)
		return bindError(name, err)
	}
	consumer := func(s jetstream.Stream, name string, out *jetstream.Consumer) error {
		*out, err = s.Consumer(ctx, name)
		return bindError(name, err)
	}
	kv := func(name string, out *jetstream.KeyValue) error {
		*out, err = js.KeyValue(ctx, name)
		return bindError(name, err)
	}
	if err := errors.Join(stream(l.SubmissionsStream(), &r.Submissions), stream(l.DLQStream(), &r.DLQ),
		stream(l.TrackStream(), &r.Track), stream(l.LedgerStream(), &r.Ledger)); err != nil {
		return nil, err
	}
	if err := errors.Join(consumer(r.Submissions, l.Durable(), &r.Consumer), consumer(r.Track, l.TrackDurable(), &r.Tracker),
		kv(l.RecordsBucket(), &r.Records), kv(l.RequestsBucket(), &r.Requests), kv(l.SchemasBucket(), &r.Schemas),
		kv(l.HistoryBucket(), &r.History), kv(l.KeysBucket(), &r.Keys), kv(l.BudgetsBucket(), &r.Budgets),
		kv(l.BudgetUsageBucket(), &r.BudgetUsage), kv(l.HoldsBucket(), &r.Holds)); err != nil {
		return nil, err
	}
	if r.Documents, err = js.ObjectStore(ctx, l.DocumentsBucket()); err != nil {
		return nil, bindError(l.DocumentsBucket(), err)
	}
	return r, nil
}

func bindError(name string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound):
		return fmt.Errorf("%s: %w", name, ErrNoLayout)
	default:
		return fmt.Errorf("layout: bind %s: %w", name, err)
	}
}
