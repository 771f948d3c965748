package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TrackStream is the work-queue stream of tracking tasks.
func (l Layout) TrackStream() string { return l.stream("TRACK") }

// TrackSubject is where the tracking task of one submission lives.
func (l Layout) TrackSubject(tenant, id string) string {
	return l.subject("track." + tenant + "." + id)
}

// TrackDurable is the name of the durable consumer all replicas share.
func (l Layout) TrackDurable() string { return "tracker" }

// DocumentsBucket is the Object Store bucket of downloaded documents.
func (l Layout) DocumentsBucket() string { return l.bucket("documents") }

// HistoryBucket is the KV bucket of tax codes (keyed hashes) with a completed ISEE.
func (l Layout) HistoryBucket() string { return l.bucket("isee_history") }

// KeysBucket is the KV bucket of keys iseed generates for itself when no
// key file is configured.
func (l Layout) KeysBucket() string { return l.bucket("keys") }

// TrackingOptions size the tracking resources.
type TrackingOptions struct {
	// AckWait is how long a fetched task may stay unacknowledged before the
	// server hands it to another worker (default 2m). It bounds how long a
	// request waits after a replica is killed mid-poll.
	AckWait time.Duration
	// DocumentTTL is how long documents are kept (default 720h: data minimisation).
	DocumentTTL time.Duration
}

func (o TrackingOptions) withDefaults() TrackingOptions {
	if o.AckWait <= 0 {
		o.AckWait = 2 * time.Minute
	}
	if o.DocumentTTL <= 0 {
		o.DocumentTTL = 720 * time.Hour
	}
	return o
}

// TrackingResources are the handles EnsureTracking returns.
type TrackingResources struct {
	Layout    Layout
	Stream    jetstream.Stream
	Consumer  jetstream.Consumer
	Documents jetstream.ObjectStore
	History   jetstream.KeyValue
	Keys      jetstream.KeyValue
}

// EnsureTracking creates or updates, idempotently, the tracking stream and
// its durable consumer, the documents bucket and the ISEE history bucket.
//
// The stream is a work queue holding at most one task per submission
// (MaxMsgsPerSubject 1 with DiscardNewPerSubject): a second Track of an
// open request is refused by the server, whatever the duplicate window.
// The consumer has MaxDeliver -1 (a task is redelivered until the request
// ends) and MaxAckPending -1: a task waiting out NakWithDelay stays in the
// server's pending set, so any finite MaxAckPending would cap the number of
// open requests. The worker pool, not the server, bounds the work in flight.
func EnsureTracking(ctx context.Context, js jetstream.JetStream, l Layout, o TrackingOptions) (*TrackingResources, error) {
	l = l.withDefaults()
	o = o.withDefaults()
	r := &TrackingResources{Layout: l}
	var err error
	if r.Stream, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:                 l.TrackStream(),
		Description:          "iseed: one tracking task per open upstream request",
		Subjects:             []string{l.subject("track.*.*")},
		Retention:            jetstream.WorkQueuePolicy,
		MaxMsgsPerSubject:    1,
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		Duplicates:           l.Duplicates,
		Storage:              l.Storage,
		Replicas:             l.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("consumer: track stream: %w", err)
	}
	if r.Consumer, err = r.Stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       l.TrackDurable(),
		Description:   "iseed: poll upstream requests until they end",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      l.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("consumer: track consumer: %w", err)
	}
	if r.Documents, err = ensureObjectStore(ctx, js, l, o.DocumentTTL); err != nil {
		return nil, err
	}
	if r.History, err = ensureKV(ctx, js, l, l.HistoryBucket(), "iseed: keyed hashes of tax codes with a completed ISEE"); err != nil {
		return nil, err
	}
	if r.Keys, err = ensureKV(ctx, js, l, l.KeysBucket(), "iseed: generated keys (callback secrets, tax-code hashing)"); err != nil {
		return nil, err
	}
	return r, nil
}

func ensureObjectStore(ctx context.Context, js jetstream.JetStream, l Layout, ttl time.Duration) (jetstream.ObjectStore, error) {
	cfg := jetstream.ObjectStoreConfig{
		Bucket:      l.DocumentsBucket(),
		Description: "iseed: documents of completed requests",
		TTL:         ttl,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		obs, err = js.ObjectStore(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("consumer: documents bucket: %w", err)
	}
	return obs, nil
}
