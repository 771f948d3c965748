package consumer

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoLayout means the JetStream resources do not exist yet: no daemon has
// created them.
var ErrNoLayout = errors.New("the iseed streams and buckets do not exist yet (start `iseed serve` first)")

// OpenLayout binds to the pipeline's existing streams, consumers and KV
// buckets without creating or changing anything: for operator commands,
// which must never rewrite a running daemon's settings with their own.
func OpenLayout(ctx context.Context, js jetstream.JetStream, l Layout) (*Resources, error) {
	l = l.withDefaults()
	r := &Resources{Layout: l}
	var err error
	if r.Submissions, err = js.Stream(ctx, l.SubmissionsStream()); err != nil {
		return nil, bindError(l.SubmissionsStream(), err)
	}
	if r.Consumer, err = r.Submissions.Consumer(ctx, l.Durable()); err != nil {
		return nil, bindError(l.Durable(), err)
	}
	if r.DLQ, err = js.Stream(ctx, l.DLQStream()); err != nil {
		return nil, bindError(l.DLQStream(), err)
	}
	if r.Records, err = js.KeyValue(ctx, l.RecordsBucket()); err != nil {
		return nil, bindError(l.RecordsBucket(), err)
	}
	if r.Requests, err = js.KeyValue(ctx, l.RequestsBucket()); err != nil {
		return nil, bindError(l.RequestsBucket(), err)
	}
	return r, nil
}

// OpenTracking binds to the tracking resources without creating or
// changing anything (the document bucket's TTL, say).
func OpenTracking(ctx context.Context, js jetstream.JetStream, l Layout) (*TrackingResources, error) {
	l = l.withDefaults()
	r := &TrackingResources{Layout: l}
	var err error
	if r.Stream, err = js.Stream(ctx, l.TrackStream()); err != nil {
		return nil, bindError(l.TrackStream(), err)
	}
	if r.Consumer, err = r.Stream.Consumer(ctx, l.TrackDurable()); err != nil {
		return nil, bindError(l.TrackDurable(), err)
	}
	if r.Documents, err = js.ObjectStore(ctx, l.DocumentsBucket()); err != nil {
		return nil, bindError(l.DocumentsBucket(), err)
	}
	if r.History, err = js.KeyValue(ctx, l.HistoryBucket()); err != nil {
		return nil, bindError(l.HistoryBucket(), err)
	}
	if r.Keys, err = js.KeyValue(ctx, l.KeysBucket()); err != nil {
		return nil, bindError(l.KeysBucket(), err)
	}
	return r, nil
}

func bindError(name string, err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrConsumerNotFound) ||
		errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("%s: %w", name, ErrNoLayout)
	}
	return fmt.Errorf("consumer: bind %s: %w", name, err)
}
