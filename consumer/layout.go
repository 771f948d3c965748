package consumer

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Layout names and sizes every JetStream resource iseed uses. All names
// derive from the subject prefix, so two deployments can share a cluster.
type Layout struct {
	Prefix       string                // subject prefix, default "iseed"
	Replicas     int                   // 1 on the embedded server, 3 on a cluster
	Storage      jetstream.StorageType // file (default) or memory
	AckWait      time.Duration         // submissions consumer
	MaxDeliver   int                   // submissions consumer; exhausted messages are dead-lettered
	MaxAckPend   int                   // submissions consumer; sized to the worker pool of all replicas
	Duplicates   time.Duration         // dedup window of the submissions and events streams
	Retention    time.Duration         // how long submissions and events are kept
	DLQRetention time.Duration         // how long dead letters are kept
}

// Names of the layout's resources.
func (l Layout) stream(kind string) string  { return strings.ToUpper(l.Prefix) + "_" + kind }
func (l Layout) bucket(kind string) string  { return l.Prefix + "_" + kind }
func (l Layout) subject(kind string) string { return l.Prefix + "." + kind }

// SubmissionsStream is the stream of submission events.
func (l Layout) SubmissionsStream() string { return l.stream("SUBMISSIONS") }

// EventsStream is the stream of status and document events.
func (l Layout) EventsStream() string { return l.stream("EVENTS") }

// DLQStream is the stream of dead letters.
func (l Layout) DLQStream() string { return l.stream("DLQ") }

// AdvisoriesStream keeps the server's max-deliveries advisories for the submissions consumer.
func (l Layout) AdvisoriesStream() string { return l.stream("ADVISORIES") }

// RecordsBucket is the KV bucket of submission records.
func (l Layout) RecordsBucket() string { return l.bucket("submissions") }

// RequestsBucket is the KV bucket indexing upstream request ids to submissions.
func (l Layout) RequestsBucket() string { return l.bucket("requests") }

// SchemasBucket is the KV bucket of the schema cache.
func (l Layout) SchemasBucket() string { return l.bucket("schemas") }

// Durable is the name of the shared durable submissions consumer.
func (l Layout) Durable() string { return "submitter" }

// SubmissionSubject is where a tenant publishes submissions.
func (l Layout) SubmissionSubject(tenant string) string {
	return l.subject("submissions." + tenant)
}

// DLQSubject is where dead letters of one submission go.
func (l Layout) DLQSubject(tenant, id string) string {
	return l.subject("dlq." + tenant + "." + id)
}

func (l Layout) withDefaults() Layout {
	if l.Prefix == "" {
		l.Prefix = "iseed"
	}
	if l.Replicas < 1 {
		l.Replicas = 1
	}
	if l.AckWait <= 0 {
		l.AckWait = time.Minute
	}
	if l.MaxDeliver == 0 {
		l.MaxDeliver = 1000
	}
	if l.MaxAckPend <= 0 {
		l.MaxAckPend = 64
	}
	if l.Duplicates <= 0 {
		l.Duplicates = 24 * time.Hour
	}
	if l.Retention <= 0 {
		l.Retention = 30 * 24 * time.Hour
	}
	if l.DLQRetention <= 0 {
		l.DLQRetention = 90 * 24 * time.Hour
	}
	return l
}

// Resources are the handles EnsureLayout returns.
type Resources struct {
	Layout      Layout
	Submissions jetstream.Stream
	Consumer    jetstream.Consumer
	DLQ         jetstream.Stream
	Advisories  jetstream.Consumer
	Records     jetstream.KeyValue
	Requests    jetstream.KeyValue
}

// EnsureLayout creates or updates, idempotently, the streams, the durable
// consumers and the KV buckets of the submission pipeline.
func EnsureLayout(ctx context.Context, js jetstream.JetStream, l Layout) (*Resources, error) {
	l = l.withDefaults()
	r := &Resources{Layout: l}
	var err error
	if r.Submissions, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        l.SubmissionsStream(),
		Description: "iseed: submission events in",
		Subjects:    []string{l.subject("submissions.*")},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      l.Retention,
		Duplicates:  l.Duplicates,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("consumer: submissions stream: %w", err)
	}
	if _, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        l.EventsStream(),
		Description: "iseed: status and document events out",
		Subjects:    []string{l.subject("status.*.*"), l.subject("documents.*.*")},
		MaxAge:      l.Retention,
		Duplicates:  l.Duplicates,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("consumer: events stream: %w", err)
	}
	if r.DLQ, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        l.DLQStream(),
		Description: "iseed: dead letters, browsable and replayable",
		Subjects:    []string{l.subject("dlq.*.*")},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      l.DLQRetention,
		Duplicates:  l.Duplicates,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("consumer: dlq stream: %w", err)
	}
	if r.Consumer, err = r.Submissions.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       l.Durable(),
		Description:   "iseed: submit to Visengine",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       l.AckWait,
		MaxDeliver:    l.MaxDeliver,
		MaxAckPending: l.MaxAckPend,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      l.Replicas,
	}); err != nil {
		return nil, fmt.Errorf("consumer: durable consumer: %w", err)
	}
	if err := r.ensureAdvisories(ctx, js); err != nil {
		return nil, err
	}
	if r.Records, err = ensureKV(ctx, js, l, l.RecordsBucket(), "iseed: submission records"); err != nil {
		return nil, err
	}
	if r.Requests, err = ensureKV(ctx, js, l, l.RequestsBucket(), "iseed: upstream request id -> submission"); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Resources) ensureAdvisories(ctx context.Context, js jetstream.JetStream) error {
	l := r.Layout
	subject := fmt.Sprintf("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.%s.%s", l.SubmissionsStream(), l.Durable())
	st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        l.AdvisoriesStream(),
		Description: "iseed: max-deliveries advisories of the submissions consumer",
		Subjects:    []string{subject},
		Retention:   jetstream.WorkQueuePolicy,
		MaxAge:      l.DLQRetention,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
	})
	if err != nil {
		return fmt.Errorf("consumer: advisories stream: %w", err)
	}
	r.Advisories, err = st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:   "dead-letterer",
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   30 * time.Second,
		Replicas:  l.Replicas,
	})
	if err != nil {
		return fmt.Errorf("consumer: advisories consumer: %w", err)
	}
	return nil
}

func ensureKV(ctx context.Context, js jetstream.JetStream, l Layout, name, desc string) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      name,
		Description: desc,
		History:     1,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer: kv bucket %s: %w", name, err)
	}
	return kv, nil
}
