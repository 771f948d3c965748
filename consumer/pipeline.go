package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/ratelimit"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/workpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// Upstream is the part of the Visengine API the pipeline calls.
type Upstream interface {
	CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error)
	Richieste(ctx context.Context) ([]visengine.RichiestaSummary, error)
	Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error)
}

// Limiter waits for a token of the upstream budget: a *rate.Limiter, or
// the deployment-wide ratelimit.Limiter's submission class.
type Limiter interface {
	Wait(ctx context.Context) error
}

// Schemas resolves a service by catalog name or hash.
type Schemas interface {
	Service(ctx context.Context, nameOrHash string) (*schema.Service, error)
}

// Events publishes status events.
type Events interface {
	Status(ctx context.Context, s publisher.Status) error
}

// Tracker starts following a submitted request. It must be idempotent: it
// is called again when a submitted submission is redelivered.
type Tracker interface {
	Track(ctx context.Context, r *record.Record) error
}

// Gate decides whether a submission may be sent (the prior-ISEE rule): it
// returns problems when it may not. It is asked only about input with no
// other problem. PersonKey names the person a submission is about, for
// the record, without personal data ("" when it names nobody).
type Gate interface {
	Allow(ctx context.Context, tenant string, svc *schema.Service, p *schema.Prepared) ([]schema.Problem, error)
	PersonKey(tenant string, svc *schema.Service, p *schema.Prepared) string
}

// Config tunes the pipeline.
type Config struct {
	Workers         int           // fixed pool size (default 8)
	CalmWorkers     int           // handled at once while nothing waits on the server (workpool.Pool's Calm; 0: Workers)
	MaxAge          time.Duration // a submission older than this fails with "expired" (default 72h)
	ShutdownTimeout time.Duration // in-flight work gets this long after stop (default 30s)
	InProcessBudget time.Duration // in-process retries per delivery (default AckWait/2)
	ReconcileSkew   time.Duration // clock skew tolerated when matching upstream requests (default 2m)
	CallTimeout     time.Duration // the upstream client's per-call timeout (default 30s); leases are renewed to outlast it
	ReconcileSettle time.Duration // after an unanswered POST, how long before "no such request" is trusted (default 15m)
	// AdoptGrace is how long a worker whose POST was answered keeps trying
	// to record the request id (the stream may be failing over), and so how
	// long reconciliation waits for an unproven candidate to be claimed by
	// the submission that created it before calling it ambiguous (default
	// 3 × AckWait).
	AdoptGrace time.Duration
	// TrustMarkerEcho: when every POST of an unanswered attempt carried the
	// submission's marker (callbacks on), a request without it is not the
	// attempt's (the upstream keeps callback_data as sent). Off, such a
	// request cannot be told apart: the conservative default.
	TrustMarkerEcho bool
	Retry           RetryPolicy
	Limits          schema.Limits
	Breaker         BreakerConfig
	Owner           string // this process, for leases (default a random id)
	Logger          zerolog.Logger
	Now             func() time.Time
	// Callback returns the callback_data for a submission, or nil when
	// callbacks are off.
	Callback func(tenant, id string) *visengine.CallbackData
	// ReplayKey verifies operators' replays (dlq.SignReplay); without it no
	// message is taken as a replay.
	ReplayKey []byte
	// HoldPoll is how often held submissions are looked at again (default
	// 30s); a change of the caps looks at once.
	HoldPoll time.Duration
	// WithdrawWait is how long after its publication a producer's
	// withdrawal of a submission iseed has no record of yet waits for it
	// (looking again every few seconds) before it is refused unknown
	// (default 1m; withdraw.go).
	WithdrawWait time.Duration
	// WalletProbe is, while the wallet is empty, how often one message is
	// let through as a trial (and the balance read) (default 1m).
	WalletProbe time.Duration
}

// BreakerConfig tunes the circuit breaker that stops pulling while the
// upstream is failing.
type BreakerConfig struct {
	Failures int           // consecutive failures that open it (default 5)
	Cooldown time.Duration // how long it stays open before one trial (default 15s)
}

// Deps are the pipeline's collaborators.
type Deps struct {
	Resources *layout.Resources
	Upstream  Upstream
	Schemas   Schemas
	Files     schema.FileSource
	Events    Events
	Publisher jetstream.JetStream // for dead letters
	Limiter   Limiter             // the upstream budget (submissions' share); nil: none
	Tracker   Tracker             // optional
	Gate      Gate                // optional
	Metrics   *Metrics            // optional
	Budget    Budget              // optional: spending caps (needs Resources.Holds)
	Wallet    WalletChecker       // optional: reads the balance while the wallet is empty
	Ledger    Ledger              // optional: the spend ledger
}

// Pipeline consumes submissions with a fixed pool of workers.
type Pipeline struct {
	cfg     Config
	d       Deps
	lay     layout.Layout
	store   *record.Store
	breaker *gobreaker.CircuitBreaker[*visengine.Richiesta]
	holds   *holdIndex
	caps    *capsView // nil without caps: which scopes have none, to skip reserving
	wallet  walletGate
	// unannounced hands RunWallet the account events announceWallet could
	// not publish, to try again.
	unannounced chan publisher.AccountEvent
	// late is the POSTs still read after their jobs stopped waiting
	// (postWithin), and the index writes of their answers; lateCtx ends them
	// when Run returns, which waits for them.
	late    sync.WaitGroup
	lateCtx context.Context
	// markUnsent is true when the upstream budget may keep a POST waiting for
	// its token: the leases taken before it say Unsent until it is in hand.
	markUnsent bool
	log        zerolog.Logger
	jobs       atomic.Uint64  // numbers jobs for their lease owner ids
	rare       zerolog.Logger // for what outsiders can trigger at will: at most a few lines a minute
	// forged is rare's for replay headers iseed did not sign, which any
	// tenant can publish at will: sampled apart, so that they never use up
	// the lines rare keeps for other tenants' trouble.
	forged zerolog.Logger
	// pace is how often a held message is kept in progress: by the
	// submissions consumer's AckWait as the server has it.
	pace *workpool.Pace
	// waits are the withdrawals waiting for their submission's record.
	waits withdrawWaits
	// turns counts the submissions waiting for the upstream budget, per
	// tenant, for their fair shares (turns.go).
	turns *turns
	// holdsPoke starts a holds pass at once (RunHolds).
	holdsPoke chan struct{}
}

// New builds a pipeline.
func New(cfg Config, d Deps) (*Pipeline, error) {
	if d.Resources == nil || d.Upstream == nil || d.Schemas == nil || d.Events == nil || d.Publisher == nil {
		return nil, errors.New("consumer: New needs resources, upstream, schemas, events and a JetStream handle")
	}
	cfg = cfg.withDefaults(d.Resources.Layout)
	if d.Limiter == nil {
		d.Limiter = rate.NewLimiter(rate.Inf, 1)
	}
	p := &Pipeline{cfg: cfg, d: d, lay: d.Resources.Layout, store: record.NewStore(d.Resources.Records),
		markUnsent: !ratelimit.NeverWaits(d.Limiter), pace: workpool.NewPace(d.Resources.Consumer),
		unannounced: make(chan publisher.AccountEvent, 16),
		log:         cfg.Logger.With().Str("component", "consumer").Logger()}
	// Without caps (ISEED_SPENDING_CAPS=false) nothing is held, but what
	// a cap held before still waits in the holds bucket for RunHolds to
	// send it again: with no hold loop it stayed held for ever.
	p.holds = &holdIndex{kv: d.Resources.Holds}
	if d.Budget != nil {
		if d.Resources.Holds == nil {
			return nil, errors.New("consumer: spending caps need the holds bucket")
		}
		if d.Resources.Budgets != nil {
			p.caps = newCapsView(d.Resources.Budgets)
		}
	}
	p.holdsPoke = make(chan struct{}, 1)
	// Fair shares need the limiter to make POSTs wait (else none waits)
	// and the holds bucket to step a tenant's excess aside; and no tenant
	// quota, which counts each release as a submission: a batch of half
	// the quota, held and released, would fill it, and the rest of it
	// wait for room until it expired.
	p.turns = newTurns(cfg.Workers, p.markUnsent && d.Budget != nil && p.lay.TenantMaxSubmissions == 0, func() {
		if p.holds.any() {
			notify(p.holdsPoke)
		}
	})
	p.rare = p.log.Sample(&zerolog.BurstSampler{Burst: 3, Period: time.Minute})
	p.forged = p.log.Sample(&zerolog.BurstSampler{Burst: 3, Period: time.Minute})
	p.breaker = newBreaker(cfg.Breaker, p.log, d.Metrics)
	return p, nil
}

func (c Config) withDefaults(l layout.Layout) Config {
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 72 * time.Hour
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.InProcessBudget <= 0 {
		c.InProcessBudget = l.AckWait / 2
	}
	if c.ReconcileSettle <= 0 {
		c.ReconcileSettle = 15 * time.Minute
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 30 * time.Second
	}
	if c.WalletProbe <= 0 {
		c.WalletProbe = time.Minute
	}
	if c.HoldPoll <= 0 {
		c.HoldPoll = 30 * time.Second
	}
	if c.WithdrawWait <= 0 {
		c.WithdrawWait = time.Minute
	}
	if c.ReconcileSkew <= 0 {
		c.ReconcileSkew = 2 * time.Minute
	}
	if c.AdoptGrace <= 0 {
		c.AdoptGrace = 3 * l.AckWait
	}
	if c.Owner == "" {
		c.Owner = newOwnerID()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Retry = c.Retry.withDefaults()
	return c
}

// Run consumes until ctx is done, then shuts down in order: stop fetching,
// hand back what was fetched but not started, let in-flight messages finish
// within ShutdownTimeout (then cancel them; they are redelivered), return.
// While the breaker is open it pulls nothing.
func (p *Pipeline) Run(ctx context.Context) error {
	// The caps view outlives the pool's drain: in-flight messages still
	// reserve through it.
	viewCtx, stopView := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	if p.caps != nil {
		var nc *nats.Conn
		if p.d.Publisher != nil {
			nc = p.d.Publisher.Conn()
		}
		wg.Go(func() { p.caps.run(viewCtx, nc, p.log) })
	}
	defer func() { stopView(); wg.Wait() }()
	lateCtx, stopLate := context.WithCancel(context.WithoutCancel(ctx))
	p.lateCtx = lateCtx
	defer func() { stopLate(); p.late.Wait() }()
	return (&workpool.Pool{
		Name: "submissions", Consumer: p.d.Resources.Consumer, Workers: p.cfg.Workers, Handle: p.handle,
		Paused:   func() bool { return p.breaker.State() == gobreaker.StateOpen || p.wallet.paused(p.cfg.Now()) },
		HandBack: p.cfg.Retry.Interrupted, Shutdown: p.cfg.ShutdownTimeout, Logger: p.log, Calm: p.cfg.CalmWorkers,
	}).Run(ctx)
}

// tenantOf extracts the tenant from <prefix>.submissions.<tenant>.
func (p *Pipeline) tenantOf(subject string) (string, bool) {
	tenant := p.lay.TenantOf(subject)
	return tenant, record.ValidToken(tenant)
}

func newOwnerID() string {
	return fmt.Sprintf("%x", time.Now().UnixNano())
}

// BreakerOpen reports whether the circuit breaker around POST /richiesta is
// open (the pipeline is not pulling).
func (p *Pipeline) BreakerOpen() bool { return p.breaker.State() == gobreaker.StateOpen }
