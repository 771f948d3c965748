package layout

import (
	"strings"
	"time"

	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go/jetstream"
)

// Layout names and sizes every JetStream resource iseed uses. All names
// derive from the subject prefix, so two deployments can share a cluster.
type Layout struct {
	Prefix       string                // subject prefix, default "iseed"
	Replicas     int                   // 1 on the embedded server, 3 on a cluster
	Storage      jetstream.StorageType // file (default) or memory
	AckWait      time.Duration         // submissions consumer (default 1m)
	MaxDeliver   int                   // submissions consumer; exhausted messages are dead-lettered (default 1000)
	MaxAckPend   int                   // submissions consumer; sized to the worker pool of all replicas (default 64)
	Duplicates   time.Duration         // dedup window of the submissions, events, DLQ and tracking streams (default 24h)
	Retention    time.Duration         // how long submissions and events are kept (default 30 days)
	DLQRetention time.Duration         // how long dead letters, and advisories not yet handled, are kept (default 90 days)
	// TrackAckWait is how long a fetched tracking task may stay
	// unacknowledged before the server hands it to another worker (default
	// 2m). It bounds how long a request waits after a replica is killed
	// mid-poll.
	TrackAckWait time.Duration
	// DocumentTTL is how long documents are kept (default 720h: data minimisation).
	DocumentTTL time.Duration
	// FilesMaxAge is how long a files bucket CreateFilesBucket makes keeps
	// each file (default 720h: data minimisation).
	FilesMaxAge time.Duration
	// LedgerRetention is how long spend entries are kept (default 400 days).
	LedgerRetention time.Duration
	// TenantMaxSubmissions is how many submissions of one tenant the
	// submissions stream holds at most (over Retention); it refuses the
	// tenant's next ones (quota.go). 0: no limit.
	TenantMaxSubmissions int64
}

// WithDefaults returns l with every zero field set to its default.
func (l Layout) WithDefaults() Layout {
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
	if l.TrackAckWait <= 0 {
		l.TrackAckWait = 2 * time.Minute
	}
	if l.DocumentTTL <= 0 {
		l.DocumentTTL = 720 * time.Hour
	}
	if l.FilesMaxAge <= 0 {
		l.FilesMaxAge = 720 * time.Hour
	}
	return l
}

// Names of the layout's resources.
func (l Layout) stream(kind string) string  { return strings.ToUpper(l.Prefix) + "_" + kind }
func (l Layout) bucket(kind string) string  { return l.Prefix + "_" + kind }
func (l Layout) subject(kind string) string { return l.Prefix + "." + kind }

// Events is the subject grammar of the status and document events.
func (l Layout) Events() publisher.Subjects { return publisher.SubjectsFor(l.Prefix) }

// SubmissionsStream is the stream of submission events.
func (l Layout) SubmissionsStream() string { return l.stream("SUBMISSIONS") }

// EventsStream is the stream of status and document events.
func (l Layout) EventsStream() string { return l.stream("EVENTS") }

// DLQStream is the stream of dead letters.
func (l Layout) DLQStream() string { return l.stream("DLQ") }

// AdvisoriesStream keeps the server's max-deliveries advisories for the submissions consumer.
func (l Layout) AdvisoriesStream() string { return l.stream("ADVISORIES") }

// TrackStream is the work-queue stream of tracking tasks.
func (l Layout) TrackStream() string { return l.stream("TRACK") }

// RecordsBucket is the KV bucket of submission records.
func (l Layout) RecordsBucket() string { return l.bucket("submissions") }

// RecordsStream is the stream behind the records bucket.
func (l Layout) RecordsStream() string { return "KV_" + l.RecordsBucket() }

// RequestsBucket is the KV bucket indexing upstream request ids to submissions.
func (l Layout) RequestsBucket() string { return l.bucket("requests") }

// SchemasBucket is the KV bucket of the schema cache.
func (l Layout) SchemasBucket() string { return l.bucket("schemas") }

// DocumentsBucket is the shared Object Store bucket of documents stored
// before documents had a bucket per tenant; they stay readable there.
func (l Layout) DocumentsBucket() string { return l.bucket("documents") }

// TenantDocumentsBucket is the Object Store bucket of one tenant's
// documents: a tenant may be granted read access to its own and no other.
func (l Layout) TenantDocumentsBucket(tenant string) string { return l.bucket("documents_" + tenant) }

// HistoryBucket is the KV bucket of tax codes (keyed hashes) with an ISEE request.
func (l Layout) HistoryBucket() string { return l.bucket("isee_history") }

// BudgetsBucket is the KV bucket of spending caps.
func (l Layout) BudgetsBucket() string { return l.bucket("budgets") }

// BudgetUsageBucket is the KV bucket of money counted against the caps.
func (l Layout) BudgetUsageBucket() string { return l.bucket("budget_usage") }

// HoldsBucket is the KV bucket of submissions held by a cap, oldest first
// per tenant.
func (l Layout) HoldsBucket() string { return l.bucket("holds") }

// LedgerStream is the stream of spend entries, one per paid request.
func (l Layout) LedgerStream() string { return ledger.StreamName(l.Prefix) }

// RateLimitBucket is the KV bucket of the upstream budget (ratelimit).
func (l Layout) RateLimitBucket() string { return l.bucket("ratelimit") }

// KeysBucket is the KV bucket of keys iseed generates for itself when no
// key file is configured.
func (l Layout) KeysBucket() string { return l.bucket("keys") }

// FilesBucket is the Object Store bucket a tenant uploads large files to;
// a submission's nats-os:// references may name only its own tenant's.
func (l Layout) FilesBucket(tenant string) string { return l.bucket("files_" + tenant) }

// Durable is the name of the shared durable submissions consumer.
func (l Layout) Durable() string { return "submitter" }

// TrackDurable is the name of the durable tracking consumer all replicas share.
func (l Layout) TrackDurable() string { return "tracker" }

// AdvisoriesDurable is the name of the durable consumer of the advisories stream.
func (l Layout) AdvisoriesDurable() string { return "dead-letterer" }

// SubmissionSubject is where a tenant publishes submissions.
func (l Layout) SubmissionSubject(tenant string) string {
	return l.subject("submissions." + tenant)
}

// TenantOf returns the tenant of a submissions subject
// (<prefix>.submissions.<tenant>), or "" when subject is not one.
func (l Layout) TenantOf(subject string) string {
	tenant, ok := strings.CutPrefix(subject, l.SubmissionSubject(""))
	if !ok {
		return ""
	}
	return tenant
}

// DLQSubject is where dead letters of one submission go.
func (l Layout) DLQSubject(tenant, id string) string {
	return l.subject("dlq." + tenant + "." + id)
}

// TrackSubject is where the tracking task of one submission lives.
func (l Layout) TrackSubject(tenant, id string) string {
	return l.subject("track." + tenant + "." + id)
}

// SettingChange is a shared consumer's setting that Ensure found set
// otherwise, by another replica, and set to this one's.
type SettingChange struct {
	Setting    string // the variable: ISEED_ACK_WAIT, ISEED_MAX_DELIVER, ISEED_WORKERS (MaxAckPending), ISEED_TRACK_ACK_WAIT
	Consumer   string
	Found, Own string // as the variable would say it; MaxAckPending N for ISEED_WORKERS
}

// RetentionChange is a stream's MaxAge that Ensure found set otherwise, by
// another replica, and set to this one's: a shorter one deletes the older
// messages at once.
type RetentionChange struct {
	Setting  string // the variable: ISEED_RETENTION or ISEED_DLQ_RETENTION
	Stream   string
	From, To time.Duration
}
