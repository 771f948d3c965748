package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/seal"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/workpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// Limiter waits for a token of the upstream budget: a *rate.Limiter, or
// the deployment-wide ratelimit.Limiter's poll class.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Upstream is the part of the Visengine API the tracker calls.
type Upstream interface {
	Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error)
	Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error)
}

// Events publishes status and document events.
type Events interface {
	Status(ctx context.Context, s publisher.Status) error
	DocumentReady(ctx context.Context, d publisher.DocumentReady) error
}

// Config tunes the tracker. Durations of the schedule (Polling, Schedule,
// RetryDelay, MaxAge, LastLookGrace) are on the schedule's clock (Timebase); HandBack and
// ShutdownTimeout are real.
type Config struct {
	Workers int     // fixed pool size (default 4)
	Polling Polling // the poll schedule, following each service's expected time (schedule.go)
	// Schedule, when set, replaces Polling with fixed delays by delivery,
	// the last repeating (ISEED_POLL_SCHEDULE: tests, demos, the chaos suite).
	Schedule        []time.Duration
	RetryDelay      time.Duration // after a failed poll (default 1m, or Schedule's first step if shorter)
	MaxRetryAfter   time.Duration // the longest Retry-After a failed poll waits for (real; default 10m)
	HandBack        time.Duration // delay of tasks fetched but not started at shutdown (default 1s)
	OverdueWorkdays int           // one overdue event for a request open this many working days (default 15)
	MaxAge          time.Duration // then tracking ends failed/gave_up (default 1440h)
	// LastLookGrace is how long past MaxAge the last look before a
	// give-up (pastMaxAge) is tried again while the upstream does not
	// answer (default 1h); negative: tracking gives up without one (tests
	// of a give-up racing a completion, which a last look would see).
	LastLookGrace   time.Duration
	Timebase        Timebase      // the schedule's clock; the zero value is the daemon's (Now)
	ShutdownTimeout time.Duration // for in-flight polls (default 30s)
	TempDir         string        // for downloads ("" means os.TempDir)
	Keyring         *seal.Keyring // seals documents at rest for tenants it has recipients for; nil stores them in clear
	ReplayKey       []byte        // verifies operators' replays of gave_up dead letters
	Logger          zerolog.Logger
	Now             func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = time.Minute
		if len(c.Schedule) > 0 {
			c.RetryDelay = min(c.RetryDelay, c.Schedule[0])
		}
	}
	if c.HandBack <= 0 {
		c.HandBack = time.Second
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 10 * time.Minute
	}
	if c.OverdueWorkdays <= 0 {
		c.OverdueWorkdays = 15
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 1440 * time.Hour
	}
	if c.LastLookGrace == 0 {
		c.LastLookGrace = time.Hour
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Deps are the tracker's collaborators.
type Deps struct {
	Resources *layout.Resources
	Upstream  Upstream
	Events    Events
	Publisher jetstream.JetStream // tasks and dead letters
	Limiter   Limiter             // the upstream budget (polls' share); nil: none
	History   *History            // optional: notes ISEE requests for the prior-ISEE rule
	Metrics   *Metrics            // optional
}

// Tracker drives submitted requests to a final state. It implements the
// pipeline's consumer.Tracker.
type Tracker struct {
	cfg     Config
	d       Deps
	lay     layout.Layout
	store   *record.Store
	log     zerolog.Logger
	rare    zerolog.Logger // for what outsiders can trigger at will: a few lines a minute
	buckets sync.Map       // tenant → its documents bucket (jetstream.ObjectStore)
	streams sync.Map       // documents bucket → its stream (jetstream.Stream), for whole
	storing [64]sync.Mutex // by object name: one store of a document at a time (storeLock)
	trust   *callbackTrust // whether polls stretch (callbacktrust.go); nil without callbacks
	pace    *workpool.Pace // how often a poll keeps its task in progress: by the consumer's AckWait
}

// New builds a tracker.
func New(cfg Config, d Deps) (*Tracker, error) {
	if d.Resources == nil || d.Upstream == nil || d.Events == nil || d.Publisher == nil {
		return nil, errors.New("tracking: New needs resources, upstream, events and a JetStream handle")
	}
	cfg = cfg.withDefaults()
	var err error
	if cfg.Polling, err = cfg.Polling.WithDefaults(); err != nil {
		return nil, fmt.Errorf("tracking: poll schedule: %w", err)
	}
	if d.Limiter == nil {
		d.Limiter = rate.NewLimiter(rate.Inf, 1)
	}
	log := cfg.Logger.With().Str("component", "tracker").Logger()
	t := &Tracker{cfg: cfg, d: d, lay: d.Resources.Layout, store: record.NewStore(d.Resources.Records),
		log: log, rare: log.Sample(&zerolog.BurstSampler{Burst: 3, Period: time.Minute}),
		pace: workpool.NewPace(d.Resources.Tracker)}
	if cfg.Polling.Callbacks {
		t.trust = newCallbackTrust(t.schedNow(), d.Metrics.callbacksTrusted)
	}
	d.Metrics.callbacksTrusted(true)
	return t, nil
}

// task is the payload of a tracking task. Service, Hash and Submitted let
// the first delivery schedule the first poll without reading the record;
// tasks published before they existed fall back to the catch-all
// expectation and the task's own timestamp.
type task struct {
	Tenant     string    `json:"tenant"`
	ID         string    `json:"id"`
	Generation int       `json:"generation"`
	RequestID  string    `json:"request_id"`
	Service    string    `json:"service,omitempty"`
	Hash       string    `json:"hash_visura,omitempty"`
	Submitted  time.Time `json:"submitted,omitzero"`
	// Callback is the record's (record.Record.Callback): false when the
	// request's POST carried no callback_data, so that the first poll,
	// scheduled from the task, is not stretched for a callback that will
	// never come.
	Callback *bool `json:"callback,omitempty"`
	// Adopted is true when the request was recorded from a read after its
	// POST (an earlier POST's answer kept, or reconciliation), not from the
	// POST's own answer: it may be further on upstream than submitted (its
	// documents ready, even done), which only a poll catches up, and the
	// callbacks that came before it was recorded found no request to
	// re-read. The task's first delivery then polls at once (one GET more
	// than the pipeline's read, for the rare adoption).
	Adopted bool `json:"adopted,omitempty"`
}

// adopted reports whether the record's request was recorded from a read
// after its POST: its latest submitted transition has a note ("answered",
// "reconciled", …); one recorded from the POST's answer has none.
func adopted(r *record.Record) bool {
	for i := len(r.Timeline) - 1; i >= 0; i-- {
		if tr := r.Timeline[i]; tr.State == record.StateSubmitted {
			return tr.Note != ""
		}
	}
	return false
}

// Track starts following a submitted request. It is idempotent: the task's
// Nats-Msg-Id is "track.<tenant>.<id>.<generation>", and the stream holds
// at most one task per submission, so a repeated call finds it there.
func (t *Tracker) Track(ctx context.Context, r *record.Record) error {
	if r.RequestID == "" || r.Closed() {
		return nil
	}
	body, err := json.Marshal(task{Tenant: r.Tenant, ID: r.ID, Generation: r.Generation, RequestID: r.RequestID,
		Service: r.Service, Hash: r.ServiceHash, Submitted: r.SubmittedAt().UTC(), Callback: r.Callback, Adopted: adopted(r)})
	if err != nil {
		return fmt.Errorf("track: encode task: %w", err)
	}
	m := nats.NewMsg(t.lay.TrackSubject(r.Tenant, r.ID))
	m.Data = body
	m.Header.Set(jetstream.MsgIDHeader, publisher.TrackMsgID(r.Tenant, r.ID, r.Generation))
	_, err = t.d.Publisher.PublishMsg(ctx, m)
	if err == nil {
		return nil
	}
	// The stream refuses a second task for a subject that has one: this
	// submission's task, or a message someone else put there. Any client
	// that may publish in the account can, through a reply subject
	// (docs/security.md); that one is removed and the task stored.
	last, held, gerr := t.heldTask(ctx, r.Tenant, r.ID)
	if gerr != nil {
		return fmt.Errorf("track %s: %w", record.Key(r.Tenant, r.ID), err)
	}
	if held != nil {
		return nil
	}
	if err := t.d.Resources.Track.DeleteMsg(ctx, last.Sequence); err != nil {
		// The server answers a delete of a missing message with a generic
		// failure (10057, not ErrMsgNotFound): the foreign message may be
		// gone already, terminated meanwhile by the tracker as malformed.
		if _, gerr := t.d.Resources.Track.GetMsg(ctx, last.Sequence); !errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return fmt.Errorf("track %s: remove the foreign message %d on its subject: %w", record.Key(r.Tenant, r.ID), last.Sequence, err)
		}
	}
	if _, err := t.d.Publisher.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("track %s: after removing a foreign message on its subject: %w", record.Key(r.Tenant, r.ID), err)
	}
	return nil
}

// heldTask returns the message on the submission's task subject and, when
// it is this submission's task (not something another client put there),
// the task. jetstream.ErrMsgNotFound when the subject holds none.
func (t *Tracker) heldTask(ctx context.Context, tenant, id string) (*jetstream.RawStreamMsg, *task, error) {
	last, err := t.d.Resources.Track.GetLastMsgForSubject(ctx, t.lay.TrackSubject(tenant, id))
	if err != nil {
		return nil, nil, err
	}
	var held task
	if json.Unmarshal(last.Data, &held) != nil || held.Tenant != tenant || held.ID != id {
		return last, nil, nil
	}
	return last, &held, nil
}

// Run polls until ctx is done, then shuts down in order: stop fetching,
// hand back tasks fetched but not started, let in-flight polls finish
// within ShutdownTimeout (then cancel them; their tasks come back after
// AckWait), return. A poll waiting for its budget token or reading a
// stored document back ends at once (workpool.Stopping), its task handed
// back.
func (t *Tracker) Run(ctx context.Context) error {
	return (&workpool.Pool{
		Name: "tracking", Consumer: t.d.Resources.Tracker, Workers: t.cfg.Workers, Handle: t.handle,
		HandBack: t.cfg.HandBack, Shutdown: t.cfg.ShutdownTimeout, Logger: t.log,
	}).Run(ctx)
}
