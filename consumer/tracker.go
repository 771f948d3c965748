package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Tracking follows every submitted request to its end.
//
// Design: one task per open request in a work-queue stream (see
// EnsureTracking), consumed by the durable "tracker" consumer that every
// replica shares. A task is held by one worker at a time (the server's ack
// pending set), so no request is polled by two replicas at once and there is
// no leader. Between polls the task waits in the server through
// NakWithDelay, never in process memory: a replica's memory and goroutines
// depend on its worker pool, not on the number of open requests. A restarted
// or added replica simply fetches; a killed one's task comes back after the
// consumer's AckWait.
//
// NakWithDelay was chosen over JetStream message scheduling (Nats-Schedule,
// nats-server 2.12+) because it needs no extra stream of schedules, works on
// the servers iseed supports, and the delay follows the delivery count,
// which the server keeps for us.
//
// Each poll is O(1): one KV get, one GET /richiesta/{id} through the rate
// limiter shared with submissions, and writes only when the upstream state
// changed. Events are published before the record is written, and are
// deduplicated by id, so a crash between the two repeats an event, never
// loses one; the record is written by compare-and-set, so a callback and a
// poll racing on one request are safe.

// TrackerUpstream is the part of the Visengine API the tracker calls.
type TrackerUpstream interface {
	Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error)
	Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error)
}

// TrackerEvents publishes status and document events.
type TrackerEvents interface {
	Status(ctx context.Context, s publisher.Status) error
	DocumentReady(ctx context.Context, d publisher.DocumentReady) error
}

// TrackerConfig tunes the tracker.
type TrackerConfig struct {
	Workers         int             // fixed pool size (default 4)
	Schedule        []time.Duration // delays between polls by delivery, last repeating (default 1m,5m,15m,1h)
	RetryDelay      time.Duration   // after a failed poll (default the first step of Schedule)
	HandBack        time.Duration   // delay of tasks fetched but not started at shutdown (default 1s)
	OverdueAfter    time.Duration   // one overdue event after this long (default 360h)
	MaxAge          time.Duration   // then tracking ends failed/gave_up (default 1440h)
	ShutdownTimeout time.Duration   // for in-flight polls (default 30s)
	TempDir         string          // for downloads ("" means os.TempDir)
	Sealer          *Sealer         // encrypts documents at rest; nil stores them in clear
	Logger          zerolog.Logger
	Now             func() time.Time
}

func (c TrackerConfig) withDefaults() TrackerConfig {
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if len(c.Schedule) == 0 {
		c.Schedule = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = c.Schedule[0]
	}
	if c.HandBack <= 0 {
		c.HandBack = time.Second
	}
	if c.OverdueAfter <= 0 {
		c.OverdueAfter = 360 * time.Hour
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 1440 * time.Hour
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// TrackerDeps are the tracker's collaborators.
type TrackerDeps struct {
	Resources *Resources
	Tracking  *TrackingResources
	Upstream  TrackerUpstream
	Events    TrackerEvents
	Publisher jetstream.JetStream // tasks and dead letters
	Limiter   *rate.Limiter       // the one the pipeline uses
	History   *History            // optional: notes completed ISEE requests
	Metrics   *Metrics            // optional
}

// RequestTracker drives submitted requests to a final state. It implements the
// pipeline's Tracker interface.
type RequestTracker struct {
	cfg   TrackerConfig
	d     TrackerDeps
	store *Store
	log   zerolog.Logger
}

// NewRequestTracker builds a tracker.
func NewRequestTracker(cfg TrackerConfig, d TrackerDeps) (*RequestTracker, error) {
	if d.Resources == nil || d.Tracking == nil || d.Upstream == nil || d.Events == nil || d.Publisher == nil {
		return nil, errors.New("consumer: NewRequestTracker needs resources, tracking resources, upstream, events and a JetStream handle")
	}
	cfg = cfg.withDefaults()
	if d.Limiter == nil {
		d.Limiter = rate.NewLimiter(rate.Inf, 1)
	}
	return &RequestTracker{cfg: cfg, d: d, store: NewStore(d.Resources.Records),
		log: cfg.Logger.With().Str("component", "tracker").Logger()}, nil
}

// task is the payload of a tracking task.
type task struct {
	Tenant     string `json:"tenant"`
	ID         string `json:"id"`
	Generation int    `json:"generation"`
	RequestID  string `json:"request_id"`
}

// Track starts following a submitted request. It is idempotent: the task's
// Nats-Msg-Id is "track.<tenant>.<id>.<generation>", and the stream holds
// at most one task per submission, so a repeated call finds it there.
func (t *RequestTracker) Track(ctx context.Context, r *Record) error {
	if r.RequestID == "" || closed(r) {
		return nil
	}
	l := t.d.Tracking.Layout
	body, err := json.Marshal(task{Tenant: r.Tenant, ID: r.ID, Generation: r.Generation, RequestID: r.RequestID})
	if err != nil {
		return fmt.Errorf("track: encode task: %w", err)
	}
	m := nats.NewMsg(l.TrackSubject(r.Tenant, r.ID))
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("track.%s.%s.%d", r.Tenant, r.ID, max(r.Generation, 1)))
	if _, err := t.d.Publisher.PublishMsg(ctx, m); err != nil {
		// The stream refuses a second task for a subject that has one.
		if _, gerr := t.d.Tracking.Stream.GetLastMsgForSubject(ctx, m.Subject); gerr == nil {
			return nil
		}
		return fmt.Errorf("track %s: %w", RecordKey(r.Tenant, r.ID), err)
	}
	return nil
}

// Run polls until ctx is done, then shuts down in order: stop fetching,
// hand back tasks fetched but not started, let in-flight polls finish
// within ShutdownTimeout (then cancel them; their tasks come back after
// AckWait), return.
func (t *RequestTracker) Run(ctx context.Context) error {
	return (&pool{
		name: "tracking", cons: t.d.Tracking.Consumer, workers: t.cfg.Workers, handle: t.handle,
		handBack: t.cfg.HandBack, shutdown: t.cfg.ShutdownTimeout, log: t.log,
	}).run(ctx)
}
