package layout

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/schema"
	"github.com/nats-io/nats.go/jetstream"
)

// Resources are the handles of the layout.
type Resources struct {
	Layout      Layout
	Submissions jetstream.Stream
	Consumer    jetstream.Consumer // the submissions consumer
	DLQ         jetstream.Stream
	Advisories  jetstream.Consumer // nil when bound by Open
	Records     jetstream.KeyValue
	Requests    jetstream.KeyValue
	Schemas     jetstream.KeyValue
	Track       jetstream.Stream
	Tracker     jetstream.Consumer // the tracking consumer
	Documents   jetstream.ObjectStore
	History     jetstream.KeyValue
	Keys        jetstream.KeyValue
	RateLimit   jetstream.KeyValue // the deployment-wide upstream budget
	Budgets     jetstream.KeyValue // spending caps
	BudgetUsage jetstream.KeyValue // money counted against them
	Holds       jetstream.KeyValue // submissions a cap holds back
	Ledger      jetstream.Stream   // one spend entry per paid request

	// Swept names the consumers tenants had made, when they could, that
	// Ensure deleted: "<stream> <consumer> -> <deliver subject>".
	Swept []string
	// QuotaChanged is the tenant quota Ensure changed on the existing
	// submissions stream, nil when it kept it (or made the stream).
	QuotaChanged *QuotaChange
	// SettingsChanged are the shared consumers' settings Ensure found set
	// otherwise (by a replica configured otherwise) and changed to this
	// replica's.
	SettingsChanged []SettingChange
	// RetentionsChanged are the streams whose MaxAge Ensure found set
	// otherwise (by a replica configured otherwise) and changed to this
	// replica's Retention or DLQRetention.
	RetentionsChanged []RetentionChange
	tenants           []string // tenants with a documents bucket
}

// Ensure creates or updates, idempotently, every stream, durable consumer
// and bucket of the layout, and returns their handles. Replicas starting
// together may run it at once: every step is a create-or-update, and a
// step that fails (a fresh cluster without a meta leader yet, a race with
// another replica) fails the whole call, to be retried by the caller,
// except a *RefusedError: a configuration JetStream never accepts.
func Ensure(ctx context.Context, js jetstream.JetStream, l Layout) (*Resources, error) {
	l = l.WithDefaults()
	r := &Resources{Layout: l}
	steps := []struct {
		name string
		fn   func(context.Context, jetstream.JetStream) error
	}{
		{"submissions stream", r.ensureSubmissions},
		{"events stream", r.ensureEvents},
		{"dlq stream", r.ensureDLQ},
		{"advisories", r.ensureAdvisories},
		{"track stream", r.ensureTrack},
		{"kv buckets", r.ensureBuckets},
		{"documents bucket", r.ensureDocuments},
		{"tenant consumers", r.ensureTenantConsumers},
		{"money", r.ensureMoney},
	}
	for _, s := range steps {
		if err := s.fn(ctx, js); err != nil {
			return nil, refused(fmt.Errorf("layout: %s: %w", s.name, err))
		}
	}
	return r, nil
}

func (r *Resources) ensureSubmissions(ctx context.Context, js jetstream.JetStream) error {
	l := r.Layout
	quota, err := l.checkQuota(ctx, js)
	if err != nil {
		return err
	}
	cfg := jetstream.StreamConfig{
		Name:        l.SubmissionsStream(),
		Description: "iseed: submission events in",
		Subjects:    []string{l.subject("submissions.*")},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      l.Retention,
		Duplicates:  l.Duplicates,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
		MaxMsgSize:  submissionMaxMsgSize(js),
	}
	l.applyQuota(&cfg)
	r.Submissions, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		// The stream has another configuration, perhaps another quota or
		// MaxAge. Read only then: one request more at every start, on a
		// cluster just formed, is one more answer that can be lost (issue
		// 13).
		was := foundStream(ctx, js, cfg.Name)
		if quota < 0 && was != nil {
			quota = max(was.MaxMsgsPerSubject, 0)
		}
		r.noteRetention("ISEED_RETENTION", was, cfg)
		r.Submissions, err = js.UpdateStream(ctx, cfg)
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	if quota >= 0 && quota != l.quota() {
		r.QuotaChanged = &QuotaChange{From: quota, To: l.quota()}
	}
	r.Consumer, err = r.ensureConsumer(ctx, r.Submissions, []consumerSetting{
		{"ISEED_ACK_WAIT", func(c jetstream.ConsumerConfig) string { return c.AckWait.String() }},
		{"ISEED_MAX_DELIVER", func(c jetstream.ConsumerConfig) string { return strconv.Itoa(c.MaxDeliver) }},
		{"ISEED_WORKERS", func(c jetstream.ConsumerConfig) string { return "MaxAckPending " + strconv.Itoa(c.MaxAckPending) }},
	}, jetstream.ConsumerConfig{
		Durable:       l.Durable(),
		Description:   "iseed: submit to Visengine",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       l.AckWait,
		MaxDeliver:    l.MaxDeliver,
		MaxAckPending: l.MaxAckPend,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      l.Replicas,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", l.Durable(), err)
	}
	return nil
}

// consumerSetting is a consumer's field a variable sets, as it is shown.
type consumerSetting struct {
	variable string
	value    func(jetstream.ConsumerConfig) string
}

// ensureConsumer creates or updates a durable consumer every replica
// shares, and notes in SettingsChanged each of settings that was another:
// each replica makes it with its own settings when it starts and the last
// started wins, so that replicas configured otherwise undo each other's
// silently. Create comes first, as in ensureStream: only a consumer found
// with another configuration is read, then updated; a failed read only
// loses the note.
func (r *Resources) ensureConsumer(ctx context.Context, st jetstream.Stream, settings []consumerSetting, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := st.CreateConsumer(ctx, cfg)
	if !errors.Is(err, jetstream.ErrConsumerExists) {
		return c, err
	}
	if found, err := st.Consumer(ctx, cfg.Durable); err == nil {
		was := found.CachedInfo().Config
		for _, s := range settings {
			if f, o := s.value(was), s.value(cfg); f != o {
				r.SettingsChanged = append(r.SettingsChanged, SettingChange{Setting: s.variable, Consumer: cfg.Durable, Found: f, Own: o})
			}
		}
	}
	return st.UpdateConsumer(ctx, cfg)
}

// DeadLetterRoom is what a dead letter may add to the message it copies:
// its headers (the error, cut to 1 KiB, ids, subject, counts and times).
const DeadLetterRoom = 4 << 10

// submissionMaxMsgSize bounds a submission message, headers included, to
// the server's max_payload less DeadLetterRoom. A larger message would be
// stored, but its dead letter could not be: rejected or failed, it would
// be redelivered without end and its producer never told. The stream
// refuses it at publication instead. -1 (no limit) when the connection
// does not know max_payload.
func submissionMaxMsgSize(js jetstream.JetStream) int32 {
	nc := js.Conn()
	if nc == nil || nc.MaxPayload() <= 2*DeadLetterRoom {
		return -1
	}
	return int32(min(nc.MaxPayload()-DeadLetterRoom, math.MaxInt32))
}

// RepublishRoom is what iseed may add to a submission's message when it
// publishes it again, to the submissions stream and within its MaxMsgSize:
// the release of a hold carries a message id of its own, the replay of a
// dead letter a signature and a message id, and the producer's message may
// have had neither.
const RepublishRoom = 1 << 10

// MaxSubmissionBytes is the largest payload a submission may have: the
// submissions stream's MaxMsgSize less RepublishRoom, so that the
// submission can be released from a hold and replayed. 0 when the stream
// has no limit.
func (r *Resources) MaxSubmissionBytes() int {
	if r.Submissions == nil {
		return 0
	}
	info := r.Submissions.CachedInfo()
	if info == nil || info.Config.MaxMsgSize <= RepublishRoom {
		return 0
	}
	return int(info.Config.MaxMsgSize) - RepublishRoom
}

// RefreshMaxSubmissionBytes is MaxSubmissionBytes once the submissions
// stream's configuration is read again. The cached one is the stream's as
// it was made or last read, and its MaxMsgSize may have changed since:
// every replica sets it at its start from the max_payload of the server it
// connects to, and an operator may change it.
func (r *Resources) RefreshMaxSubmissionBytes(ctx context.Context) (int, error) {
	if r.Submissions == nil {
		return 0, nil
	}
	if _, err := r.Submissions.Info(ctx); err != nil {
		return 0, fmt.Errorf("layout: read the submissions stream's size limit: %w", err)
	}
	return r.MaxSubmissionBytes(), nil
}

func (r *Resources) ensureEvents(ctx context.Context, js jetstream.JetStream) error {
	l := r.Layout
	_, err := r.ensureRetained(ctx, js, "ISEED_RETENTION", jetstream.StreamConfig{
		Name:        l.EventsStream(),
		Description: "iseed: status and document events out",
		Subjects:    append(l.Events().Of("*", "*"), l.Events().Account()),
		MaxAge:      l.Retention,
		Duplicates:  l.Duplicates,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
	})
	return err
}

func (r *Resources) ensureDLQ(ctx context.Context, js jetstream.JetStream) error {
	l := r.Layout
	var err error
	r.DLQ, err = r.ensureRetained(ctx, js, "ISEED_DLQ_RETENTION", jetstream.StreamConfig{
		Name:        l.DLQStream(),
		Description: "iseed: dead letters, browsable and replayable",
		Subjects:    []string{l.subject("dlq.*.*")},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      l.DLQRetention,
		Duplicates:  l.Duplicates,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
	})
	return err
}

// EnsureAdvisories creates or updates, as Ensure does, the advisories
// stream and its durable consumer, and returns the consumer: for the
// fetcher, when they are gone (an operator deleted them, a stream in
// memory after a NATS restart).
func EnsureAdvisories(ctx context.Context, js jetstream.JetStream, l Layout) (jetstream.Consumer, error) {
	r := &Resources{Layout: l.WithDefaults()}
	if err := r.ensureAdvisories(ctx, js); err != nil {
		return nil, fmt.Errorf("layout: advisories: %w", err)
	}
	return r.Advisories, nil
}

// AdvisoriesAckWait is the AckWait of the advisories' consumer, whatever
// ISEED_ACK_WAIT is: an advisory waited on is kept in progress more often.
const AdvisoriesAckWait = 30 * time.Second

// ensureAdvisories keeps the server's max-deliveries advisories of the
// submissions consumer in a stream, so that none is lost while no replica
// runs.
func (r *Resources) ensureAdvisories(ctx context.Context, js jetstream.JetStream) error {
	l := r.Layout
	subject := fmt.Sprintf("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.%s.%s", l.SubmissionsStream(), l.Durable())
	st, err := r.ensureRetained(ctx, js, "ISEED_DLQ_RETENTION", jetstream.StreamConfig{
		Name:        l.AdvisoriesStream(),
		Description: "iseed: max-deliveries advisories of the submissions consumer",
		Subjects:    []string{subject},
		Retention:   jetstream.WorkQueuePolicy,
		MaxAge:      l.DLQRetention,
		Storage:     l.Storage,
		Replicas:    l.Replicas,
	})
	if err != nil {
		return err
	}
	r.Advisories, err = st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:   l.AdvisoriesDurable(),
		AckPolicy: jetstream.AckExplicitPolicy,
		AckWait:   AdvisoriesAckWait,
		Replicas:  l.Replicas,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", l.AdvisoriesDurable(), err)
	}
	return nil
}

// ensureTrack creates the work-queue stream of tracking tasks and its
// durable consumer.
//
// The stream holds at most one task per submission (MaxMsgsPerSubject 1
// with DiscardNewPerSubject): a second Track of an open request is refused
// by the server, whatever the duplicate window. The consumer has MaxDeliver
// -1 (a task is redelivered until the request ends) and MaxAckPending -1: a
// task waiting out NakWithDelay stays in the server's pending set, so any
// finite MaxAckPending would cap the number of open requests. The worker
// pool, not the server, bounds the work in flight.
func (r *Resources) ensureTrack(ctx context.Context, js jetstream.JetStream) error {
	l := r.Layout
	var err error
	if r.Track, err = ensureStream(ctx, js, jetstream.StreamConfig{
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
		return err
	}
	r.Tracker, err = r.ensureConsumer(ctx, r.Track, []consumerSetting{
		{"ISEED_TRACK_ACK_WAIT", func(c jetstream.ConsumerConfig) string { return c.AckWait.String() }},
	}, jetstream.ConsumerConfig{
		Durable:       l.TrackDurable(),
		Description:   "iseed: poll upstream requests until they end",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       l.TrackAckWait,
		MaxDeliver:    -1,
		MaxAckPending: -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      l.Replicas,
	})
	if err != nil {
		return fmt.Errorf("consumer %s: %w", l.TrackDurable(), err)
	}
	return nil
}

func (r *Resources) ensureBuckets(ctx context.Context, js jetstream.JetStream) error {
	l := r.Layout
	buckets := []struct {
		kv   *jetstream.KeyValue
		name string
		desc string
	}{
		{&r.Records, l.RecordsBucket(), "iseed: submission records"},
		{&r.Requests, l.RequestsBucket(), "iseed: upstream request id -> submission"},
		{&r.History, l.HistoryBucket(), "iseed: keyed hashes of tax codes with an ISEE request"},
		{&r.Keys, l.KeysBucket(), "iseed: generated keys (callback secrets, tax-code hashing, replay signatures)"},
		{&r.RateLimit, l.RateLimitBucket(), "iseed: the upstream budget shared by every replica"},
	}
	for _, b := range buckets {
		kv, err := EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{
			Bucket: b.name, Description: b.desc, History: 1, Storage: l.Storage, Replicas: l.Replicas,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		*b.kv = kv
	}
	var err error
	r.Schemas, err = schema.EnsureBucket(ctx, js, l.SchemasBucket(), l.Replicas, l.Storage)
	return err
}

// ensureMoney creates the caps and usage buckets, the holds bucket and the
// ledger stream.
func (r *Resources) ensureMoney(ctx context.Context, js jetstream.JetStream) error {
	l := r.Layout
	var err error
	if r.Budgets, r.BudgetUsage, err = budget.EnsureBuckets(ctx, js, l.BudgetsBucket(), l.BudgetUsageBucket(), l.Replicas, l.Storage); err != nil {
		return err
	}
	if r.Holds, err = EnsureKeyValue(ctx, js, jetstream.KeyValueConfig{Bucket: l.HoldsBucket(),
		Description: "iseed: submissions held by a spending cap", History: 1, Storage: l.Storage, Replicas: l.Replicas}); err != nil {
		return fmt.Errorf("%s: %w", l.HoldsBucket(), err)
	}
	r.Ledger, err = ledger.EnsureStream(ctx, js, ledger.StreamConfig(l.Prefix, l.Replicas, l.Storage, l.LedgerRetention))
	return err
}

func (r *Resources) ensureDocuments(ctx context.Context, js jetstream.JetStream) error {
	var err error
	r.Documents, err = ensureObjectStore(ctx, js, r.Layout, r.Layout.DocumentsBucket(), "iseed: documents stored before per-tenant buckets")
	if err != nil {
		return err
	}
	return r.ensureTenantDocuments(ctx, js)
}

// ensureTenantDocuments brings every tenant's documents bucket to the
// layout's TTL, replicas and storage. A bucket is otherwise never updated
// (TenantDocuments binds it as it is), and a shorter ISEED_DOCUMENT_TTL
// must apply from the start to what every tenant has stored: certificates
// are kept no longer than configured.
func (r *Resources) ensureTenantDocuments(ctx context.Context, js jetstream.JetStream) error {
	prefix := r.Layout.TenantDocumentsBucket("")
	names := js.ObjectStoreNames(ctx)
	var tenants []string
	for name := range names.Name() {
		if tenant, ok := strings.CutPrefix(name, prefix); ok && tenant != "" {
			tenants = append(tenants, tenant)
		}
	}
	if err := names.Error(); err != nil {
		return fmt.Errorf("list the documents buckets: %w", err)
	}
	r.tenants = tenants
	for _, tenant := range tenants {
		if _, err := EnsureTenantDocuments(ctx, js, r.Layout, tenant); err != nil {
			return err
		}
	}
	return nil
}

// EnsureTenantDocuments creates or updates, idempotently, the documents
// bucket of one tenant, with the layout's TTL, replicas and storage.
func EnsureTenantDocuments(ctx context.Context, js jetstream.JetStream, l Layout, tenant string) (jetstream.ObjectStore, error) {
	l = l.WithDefaults()
	obs, err := ensureObjectStore(ctx, js, l, l.TenantDocumentsBucket(tenant), tenantDocumentsDescription(tenant))
	if err != nil {
		return nil, fmt.Errorf("layout: documents bucket of %s: %w", tenant, err)
	}
	return obs, nil
}

// TenantDocuments returns the documents bucket of one tenant, created with
// the layout's TTL, replicas and storage when there is none (the tenant's
// first document, or its bucket deleted since). One that exists is bound
// as it is: its settings are those of the replica started last (Ensure
// sets them on every bucket), which a replica started before, configured
// otherwise, must not set back when it stores a document (the tracker).
func TenantDocuments(ctx context.Context, js jetstream.JetStream, l Layout, tenant string) (jetstream.ObjectStore, error) {
	l = l.WithDefaults()
	cfg := objectStoreConfig(l, l.TenantDocumentsBucket(tenant), tenantDocumentsDescription(tenant))
	obs, err := js.CreateObjectStore(ctx, cfg) // as it is when it is the same: see ensureStream
	if errors.Is(err, jetstream.ErrBucketExists) || errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		obs, err = js.ObjectStore(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("layout: documents bucket of %s: object store %s: %w", tenant, cfg.Bucket, err)
	}
	return obs, nil
}

func tenantDocumentsDescription(tenant string) string { return "iseed: documents of tenant " + tenant }

// objectStoreConfig is the configuration of a documents bucket.
func objectStoreConfig(l Layout, name, desc string) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{Bucket: name, Description: desc, TTL: l.DocumentTTL, Storage: l.Storage, Replicas: l.Replicas}
}

func ensureObjectStore(ctx context.Context, js jetstream.JetStream, l Layout, name, desc string) (jetstream.ObjectStore, error) {
	cfg := objectStoreConfig(l, name, desc)
	obs, err := js.CreateObjectStore(ctx, cfg) // create first: see ensureStream
	if errors.Is(err, jetstream.ErrBucketExists) {
		obs, err = js.UpdateObjectStore(ctx, cfg)
	}
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		obs, err = js.ObjectStore(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("object store %s: %w", name, err)
	}
	return obs, nil
}

// ensureStream creates the stream, or updates it when it exists with
// another configuration. Create comes first: of replicas starting together,
// the second one's identical create is answered as a success, while an
// update (what CreateOrUpdateStream sends first) that crosses the create of
// a new replicated stream before its first leader is elected leaves both
// calls unanswered: nats-server 2.15 makes the stream, and both callers
// time out after the JetStream API timeout (5 s).
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		s, err = js.UpdateStream(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// ensureRetained is ensureStream for a stream whose MaxAge setting (the
// variable) sets, and notes in RetentionsChanged a MaxAge that was another:
// each replica sets its own when it starts and the last started wins, and a
// shorter one deletes the older messages at once. Only a stream found with
// another configuration is read, then updated; a failed read only loses
// the note.
func (r *Resources) ensureRetained(ctx context.Context, js jetstream.JetStream, setting string, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		r.noteRetention(setting, foundStream(ctx, js, cfg.Name), cfg)
		s, err = js.UpdateStream(ctx, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// foundStream returns the configuration of an existing stream, nil when it
// cannot be read.
func foundStream(ctx context.Context, js jetstream.JetStream, name string) *jetstream.StreamConfig {
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil
	}
	return &s.CachedInfo().Config
}

// noteRetention notes in RetentionsChanged that the stream was found (was,
// nil if unknown) with another MaxAge than cfg's.
func (r *Resources) noteRetention(setting string, was *jetstream.StreamConfig, cfg jetstream.StreamConfig) {
	if was != nil && was.MaxAge != cfg.MaxAge {
		r.RetentionsChanged = append(r.RetentionsChanged, RetentionChange{Setting: setting, Stream: cfg.Name, From: was.MaxAge, To: cfg.MaxAge})
	}
}

// EnsureKeyValue creates a KV bucket, or updates it when it exists with
// another configuration: create first, as ensureStream.
func EnsureKeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.UpdateKeyValue(ctx, cfg)
	}
	return kv, err
}

// ensureTenantConsumers makes the event consumers of every tenant with a
// documents bucket (the others' are made with their next event), and
// deletes what tenants could create before iseed made their consumers and
// their documents were read with direct gets only (docs/security.md): a
// push consumer under a tenant's event consumer name, made again as a pull
// consumer, and any push consumer on a documents bucket that does not
// deliver to iseed's own inboxes. Such a consumer can deliver into a pull
// consumer's request subject and stall it.
func (r *Resources) ensureTenantConsumers(ctx context.Context, js jetstream.JetStream) error {
	l := r.Layout
	tenants := map[string]bool{}
	for _, t := range r.tenants {
		tenants[t] = true
	}
	events, err := r.pushConsumers(ctx, js, l.EventsStream())
	if err != nil {
		return err
	}
	for _, c := range events {
		if t := tenantOfConsumer(l, c); t != "" {
			tenants[t] = true // EnsureTenantConsumers replaces it
			r.Swept = append(r.Swept, fmt.Sprintf("%s %s -> %s", l.EventsStream(), c.Name, c.Config.DeliverSubject))
		}
	}
	for t := range tenants {
		if _, err := publisher.EnsureTenantConsumers(ctx, js, l.EventsStream(), l.Events(), t); err != nil {
			return err
		}
	}
	for _, t := range r.tenants {
		stream := "OBJ_" + l.TenantDocumentsBucket(t)
		push, err := r.pushConsumers(ctx, js, stream)
		if err != nil {
			return err
		}
		for _, c := range push {
			if strings.HasPrefix(c.Config.DeliverSubject, "_INBOX.") {
				continue // iseed's own reads
			}
			if err := js.DeleteConsumer(ctx, stream, c.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return fmt.Errorf("delete consumer %s of %s: %w", c.Name, stream, err)
			}
			r.Swept = append(r.Swept, fmt.Sprintf("%s %s -> %s", stream, c.Name, c.Config.DeliverSubject))
		}
	}
	return nil
}

// tenantOfConsumer returns the tenant whose event consumer c is, by its
// name and filter, or "".
func tenantOfConsumer(l Layout, c *jetstream.ConsumerInfo) string {
	for _, kind := range []string{publisher.KindStatus, publisher.KindDocuments} {
		t, ok := strings.CutSuffix(c.Name, "-"+kind)
		if !ok {
			continue
		}
		for _, cfg := range publisher.TenantConsumers(l.Events(), t) {
			if cfg.Durable == c.Name && cfg.FilterSubject == c.Config.FilterSubject {
				return t
			}
		}
	}
	return ""
}

// pushConsumers lists the consumers of stream that deliver to a subject.
func (r *Resources) pushConsumers(ctx context.Context, js jetstream.JetStream, stream string) ([]*jetstream.ConsumerInfo, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	var out []*jetstream.ConsumerInfo
	list := st.ListConsumers(ctx)
	for info := range list.Info() {
		if info.Config.DeliverSubject != "" {
			out = append(out, info)
		}
	}
	if err := list.Err(); err != nil {
		return nil, fmt.Errorf("list the consumers of %s: %w", stream, err)
	}
	return out, nil
}
