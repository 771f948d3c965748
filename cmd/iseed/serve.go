package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/ratelimit"
	"github.com/iseed-dev/iseed/retention"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/servertime"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// daemon is everything `iseed serve` runs.
type daemon struct {
	cfg       *Config
	log       zerolog.Logger
	conn      *natsConn
	js        jetstream.JetStream
	res       *layout.Resources
	upstream  *visengine.Client
	sim       *simServer
	pipeline  *consumer.Pipeline
	tracking  *trackingParts
	money     *moneyParts
	overview  *overview.Overview
	scrubber  *retention.Scrubber               // nil when ISEED_RECORD_SCRUB_AFTER is off
	clock     *servertime.Clock                 // the NATS server's time: leases and settle times mean the same to every replica
	replayKey []byte                            // signs the console's replays
	calls     *ratelimit.Meter                  // this process's upstream calls, for the overview's call rate
	budget    atomic.Pointer[ratelimit.Limiter] // the shared upstream budget, once built; nil without one
	metrics   *prometheus.Registry
	extra     []actor   // further actors run with the daemon
	admin     *listener // ISEED_HTTP_LISTEN: metrics, health, the console: for operators, never public
	public    *listener // ISEED_CALLBACK_LISTEN: the upstream's callbacks only; nil without callbacks
}

// newDaemon connects and builds every component, in dependency order.
func newDaemon(ctx context.Context, cfg *Config, log zerolog.Logger) (_ *daemon, err error) {
	d := &daemon{cfg: cfg, log: log, metrics: prometheus.NewRegistry()}
	d.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			d.close() // what was acquired before the failure
		}
	}()
	if d.conn, err = connectNATS(cfg, log.With().Str("component", "nats").Logger()); err != nil {
		return nil, err
	}
	if d.js, err = jetstream.New(d.conn.nc); err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if d.res, err = retryStartup(ctx, log, "JetStream layout", d.ensureLayout); err != nil {
		return nil, err
	}
	checkFilesBuckets(ctx, d.js, d.res.Layout, log)
	d.clock = servertime.New(d.res.Keys, time.Minute)
	if _, err = retryStartup(ctx, log, "server clock", func(ctx context.Context) (struct{}, error) {
		return struct{}{}, d.clock.Sync(ctx)
	}); err != nil {
		return nil, err
	}
	if err = d.buildUpstream(); err != nil {
		return nil, err
	}
	if d.admin, err = listen("admin", "ISEED_HTTP_LISTEN", cfg.HTTPListen); err != nil {
		return nil, err
	}
	if cfg.PublicURL.Set() || (d.sim != nil && cfg.SimCallbacks) {
		if d.public, err = listen("callbacks", "ISEED_CALLBACK_LISTEN", cfg.CallbackListen); err != nil {
			return nil, err
		}
	}
	if err = d.buildPipeline(ctx); err != nil {
		return nil, err
	}
	d.buildHTTP()
	return d, nil
}

// minMaxPayload is the least max_payload iseed runs on. Below it a
// document, stored in chunks of 128 KiB (the object store's), is refused
// on every try, and fetched from the upstream again every minute, two
// calls from the shared budget, until its request's maximum age; and a
// submission's record, with its 16 KiB of metadata, may not fit.
const minMaxPayload = 256 << 10

// With ISEED_WORKERS 0 (the default) a replica runs as many submission
// workers as the upstream budget keeps busy and memory allows, between
// minAutoWorkers and maxAutoWorkers:
//
//   - the budget: a worker for each autoAnswerRoom of the deployment's
//     ISEED_UPSTREAM_RPS (16 for the default 10 calls/s: room for answers of
//     up to 1.6 s at the budget's full rate). More would only wait for
//     tokens, holding their messages, and the buffer behind them would wait
//     longer still, towards AckWait. With no limit (0), maxAutoWorkers.
//   - memory: as many as hold autoWorkerBytes of submissions of the largest
//     size the server accepts (its max_payload): 128 on NATS's default of
//     1 MiB, 16 on 8 MiB (the shipped configuration's and the embedded
//     server's). A worker holds its message, its decoded submission and the
//     POST's body, and the pull buffer one more message per worker, so a
//     replica's peak under a burst of the largest submissions stays about
//     the same whatever max_payload is (docs/deploy.md, Scaling out).
//
// More workers than 16 are for throughput, where each step's round trip
// shares its system calls with others' (docs/performance.md).
const (
	autoWorkerBytes = 128 << 20
	autoAnswerRoom  = 1600 * time.Millisecond
	minAutoWorkers  = 16
	maxAutoWorkers  = 128

	// calmWorkers are the submissions handled at once while nothing waits
	// on the server (workpool.Pool.Calm): as many as the fewest iseed chooses.
	calmWorkers = minAutoWorkers
)

// autoWorkers returns the submission workers for a server whose
// max_payload is maxPayload bytes and an upstream budget of rps calls a
// second (0: no limit).
func autoWorkers(maxPayload int64, rps float64) int {
	n := int64(maxAutoWorkers)
	if maxPayload > 0 {
		n = min(n, autoWorkerBytes/maxPayload)
	}
	if rps > 0 {
		n = min(n, int64(math.Ceil(rps*autoAnswerRoom.Seconds())))
	}
	return int(max(minAutoWorkers, n))
}

// ensureLayout makes or finds every stream and bucket, once the records
// guard has found that the records bucket this data directory remembers is
// still there (recordsmark.go), and then remembers it.
func (d *daemon) ensureLayout(ctx context.Context) (*layout.Resources, error) {
	if !d.conn.nc.IsConnected() { // say so, rather than the timeout of a request that cannot go
		// and why, when the client knows: refused credentials are not a cluster still coming up
		if last := d.conn.lastError(); last != nil {
			return nil, fmt.Errorf("not connected to NATS at %s (ISEED_NATS_URL): %w; still trying", redactedURLs(d.cfg.NATSURL), connectError(last))
		}
		return nil, fmt.Errorf("not connected to NATS at %s (ISEED_NATS_URL); still trying", redactedURLs(d.cfg.NATSURL))
	}
	mp := d.conn.nc.MaxPayload()
	if mp < minMaxPayload {
		return nil, backoff.Permanent(configError(fmt.Errorf("the NATS server's max_payload is %d bytes; iseed needs at least %d (256 KiB): "+
			"a document is stored in messages of 128 KiB, and a record may hold 16 KiB of metadata besides its problems; "+
			"raise max_payload in the server's configuration (1 MiB is NATS's default)", mp, minMaxPayload)))
	}
	if d.cfg.Workers == 0 { // before the layout: the submissions consumer's MaxAckPending follows it
		d.cfg.Workers = autoWorkers(mp, d.cfg.UpstreamRPS)
		d.log.Info().Int("workers", d.cfg.Workers).Int64("max_payload", mp).Float64("upstream_rps", d.cfg.UpstreamRPS).Str("component", "serve").
			Msg("ISEED_WORKERS is 0: submission workers chosen from the upstream budget and the server's max_payload")
	}
	guard := newRecordsGuard(d.cfg, d.log)
	if guard != nil {
		if err := guard.check(ctx, d.js); err != nil {
			return nil, err
		}
	}
	res, err := layout.Ensure(ctx, d.js, layoutOf(d.cfg))
	var refusal *layout.RefusedError
	if errors.As(err, &refusal) { // no retry would be accepted: say what to change
		return nil, backoff.Permanent(configError(fmt.Errorf("%w; JetStream refuses this however long iseed waits: %s", err, refusalHint(refusal.Code))))
	}
	var below *layout.QuotaBelowUseError
	if errors.As(err, &below) {
		return nil, backoff.Permanent(configError(fmt.Errorf("%w; set ISEED_TENANT_MAX_SUBMISSIONS at or above what those tenants hold "+
			"(or 0), and lower it once their oldest submissions have aged out of the stream (ISEED_RETENTION, %s)", err, d.cfg.StreamRetention)))
	}
	if err == nil && res.QuotaChanged != nil {
		d.log.Warn().Int64("from", res.QuotaChanged.From).Int64("to", res.QuotaChanged.To).
			Msg("changed the tenant quota on the submissions stream to this replica's ISEED_TENANT_MAX_SUBMISSIONS (0: none): " +
				"every replica sets it when it starts, so replicas started with different values undo each other's; give them all the same")
	}
	if err == nil {
		for _, c := range res.SettingsChanged {
			d.log.Warn().Str("setting", c.Setting).Str("consumer", c.Consumer).Str("found", c.Found).Str("own", c.Own).
				Msg("found the shared consumer's setting otherwise, by a replica started before this one (or by this one, before a change), " +
					"and set it to this replica's: the last replica started wins; give them all the same")
		}
		for _, c := range res.RetentionsChanged {
			d.log.Warn().Str("setting", c.Setting).Str("stream", c.Stream).Str("found", c.From.String()).Str("own", c.To.String()).
				Msg("found how long the stream keeps messages set otherwise, by a replica started before this one (or by this one, before a change), " +
					"and set it to this replica's (a shorter one deletes the older messages at once): the last replica started wins; " +
					"every replica must be given the same value")
		}
		for _, c := range res.Swept {
			d.log.Warn().Str("consumer", c).Msg("deleted a push consumer a tenant made before tenants' consumers were iseed's: " +
				"it could deliver into a pull consumer's requests and stall it (docs/security.md); revoke that tenant's credentials if it was not an old event consumer")
		}
	}
	if err != nil || guard == nil {
		return res, err
	}
	if err := guard.record(ctx, d.js, d.conn.nc); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return nil, backoff.Permanent(err)
		}
		return nil, err
	}
	return res, nil
}

// checkFilesBuckets warns of each tenant's files bucket that keeps
// identity documents for ever (no maximum age) or allows direct gets
// (layout.FilesProblems). Tenants' buckets are made by an operator, by hand
// or with `iseed tenant init`, and iseed only reads them: nothing else
// would tell. It never stops the start: a tenant without nats-os:// files
// has no bucket, and a bucket is the operator's to mend.
func checkFilesBuckets(ctx context.Context, js jetstream.JetStream, l layout.Layout, log zerolog.Logger) {
	log = log.With().Str("component", "serve").Logger()
	problems, err := layout.FilesBucketsProblems(ctx, js, l)
	if err != nil {
		log.Warn().Err(err).Msg("could not check the tenants' files buckets")
		return
	}
	for _, p := range problems {
		log.Warn().Str("bucket", p.Bucket).Str("problem", p.Problem).Msg("a tenant's files bucket is not as docs/deploy.md makes it")
	}
}

// publicURL is where the upstream reaches iseed's callbacks:
// ISEED_PUBLIC_URL, or on the built-in simulator (which runs in this
// process) the local HTTP listener; nil when callbacks are off.
func (d *daemon) publicURL() *url.URL {
	if !d.cfg.PublicURL.Set() && d.sim != nil && d.cfg.SimCallbacks {
		return &url.URL{Scheme: "http", Host: d.public.ln.Addr().String()}
	}
	return d.cfg.PublicURL.URL
}

// startupMaxWait is the longest wait between two tries of a start-up step.
const startupMaxWait = 10 * time.Second

// retryStartup runs step until it succeeds or ctx ends (SIGTERM), logging
// each failure. A fresh cluster has no JetStream meta leader for its first
// seconds, replicas starting together race to create the same streams, and
// the cluster may come up after iseed: no start-up step ends the process,
// unless it fails with a backoff.Permanent error (a records bucket gone, a
// layout JetStream refuses for good). Waits grow to startupMaxWait.
func retryStartup[T any](ctx context.Context, log zerolog.Logger, what string, step func(context.Context) (T, error)) (T, error) {
	b := backoff.NewExponentialBackOff()
	b.MaxInterval = startupMaxWait
	b.MaxElapsedTime = 0 // until ctx ends
	return backoff.RetryNotifyWithData(func() (T, error) {
		return step(ctx)
	}, backoff.WithContext(b, ctx), func(err error, next time.Duration) {
		log.Warn().Err(err).Int64("retry_in_ms", next.Milliseconds()).Str("component", "serve").Msg(what + " not ready")
	})
}

func layoutOf(cfg *Config) layout.Layout {
	storage := jetstream.FileStorage
	if cfg.Storage == "memory" {
		storage = jetstream.MemoryStorage
	}
	return layout.Layout{
		Prefix: cfg.SubjectPrefix, Replicas: cfg.Replicas, Storage: storage, AckWait: cfg.AckWait,
		MaxDeliver: cfg.MaxDeliver, MaxAckPend: max(64, cfg.Workers*4), Duplicates: cfg.DedupWindow,
		Retention: cfg.StreamRetention, DLQRetention: cfg.DLQRetention,
		TrackAckWait: cfg.TrackAckWait, DocumentTTL: cfg.DocumentTTL, FilesMaxAge: cfg.FilesMaxAge, TenantMaxSubmissions: cfg.TenantMaxSubs,
	}
}

// buildUpstream makes the Visengine client: the real API, or the built-in
// simulator on a loopback port when no URL and token are configured.
func (d *daemon) buildUpstream() error {
	var err error
	d.upstream, d.sim, err = newUpstream(d.cfg, d.pauseBudget, d.log)
	if d.sim != nil {
		// Operator commands (iseed audit) find the daemon's simulator here.
		b, _ := json.Marshal(simAccess{URL: d.sim.url, Token: d.sim.token, AccountKey: d.sim.accountKey})
		_, _ = d.res.Keys.Put(context.Background(), simURLKey, b)
		d.log.Warn().Str("component", "visengine").Str("url", d.sim.url).
			Msg("SIMULATOR: no ISEED_VISENGINE_URL/ISEED_VISENGINE_TOKEN set; talking to the built-in Visengine simulator. Nothing is sent to Openapi and nothing is charged.")
	}
	return err
}

// upstreamBudget is the deployment-wide upstream budget: ISEED_UPSTREAM_RPS
// for every replica together, kept in JetStream, with submissions served
// before polls (ISEED_UPSTREAM_RESERVE tokens are left to them). A rate of 0
// means no limit (tests and benchmarks only). Every upstream call waits on
// one of the two, so d.calls counts them all.
func (d *daemon) upstreamBudget(ctx context.Context) (submissions consumer.Limiter, polls tracking.Limiter, err error) {
	d.calls = ratelimit.NewMeter(nil)
	if d.cfg.UpstreamRPS == 0 {
		found, ok, err := ratelimit.AnnounceNone(ctx, d.res.RateLimit, "upstream")
		d.compareBudget(ratelimit.Settings{}, found, ok, err)
		free := d.calls.Count(rate.NewLimiter(rate.Inf, 1))
		return free, free, nil
	}
	lim, err := ratelimit.New(d.res.RateLimit, "upstream", ratelimit.Config{Rate: d.cfg.UpstreamRPS,
		Burst: d.cfg.UpstreamBurst, Reserve: d.cfg.UpstreamReserve, MaxPause: d.cfg.RetryMaxDelay})
	if err != nil {
		return nil, nil, fmt.Errorf("ISEED_UPSTREAM_*: %w", err)
	}
	d.budget.Store(lim)
	found, ok, err := lim.Announce(ctx)
	d.compareBudget(lim.Settings(), found, ok, err)
	return d.calls.Count(lim.For(ratelimit.Submission)), d.calls.Count(lim.For(ratelimit.Poll)), nil
}

// compareBudget warns of each setting of the shared budget that the
// replica started before this one had otherwise (found, as Announce
// returned it): each replica refills and caps the bucket with its own, and
// no error would say that they disagree. A replica without a budget
// (ISEED_UPSTREAM_RPS=0, its Settings zero) takes no token of it at all:
// beside one, only the rate is compared, since burst and reserve mean
// nothing without it. It never stops the start.
func (d *daemon) compareBudget(own, found ratelimit.Settings, ok bool, err error) {
	log := d.log.With().Str("component", "upstream").Logger()
	if err != nil {
		log.Warn().Err(err).Msg("cannot compare this replica's upstream budget with the other replicas'")
	}
	if !ok || found == own {
		return
	}
	rate := func(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }
	settings := []struct{ setting, found, own string }{
		{"ISEED_UPSTREAM_RPS", rate(found.Rate), rate(own.Rate)},
		{"ISEED_UPSTREAM_BURST", strconv.Itoa(found.Burst), strconv.Itoa(own.Burst)},
		{"ISEED_UPSTREAM_RESERVE", strconv.Itoa(found.Reserve), strconv.Itoa(own.Reserve)},
	}
	if found.Rate == 0 || own.Rate == 0 {
		settings = settings[:1]
	}
	for _, s := range settings {
		if s.found != s.own {
			log.Warn().Str("setting", s.setting).Str("found", s.found).Str("own", s.own).
				Msg("the replica started before this one (or this one, before a change) had another upstream budget: " +
					"each replica refills and caps the shared budget with its own, so replicas that disagree keep neither; give them all the same")
		}
	}
}

// pauseBudget pauses the shared upstream budget, in every replica, for the
// wait an upstream answer asked for (429 or 503 with Retry-After), at most
// ISEED_RETRY_MAX_DELAY. It returns at once: the pause is written in the
// background, and a pause that cannot be written leaves each call to wait
// its own Retry-After.
func (d *daemon) pauseBudget(wait time.Duration) {
	lim := d.budget.Load()
	if lim == nil {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		log := d.log.With().Str("component", "upstream").Dur("wait_ms", wait).Logger()
		paused, err := lim.Pause(ctx, wait)
		switch {
		case err != nil:
			log.Warn().Err(err).Msg("the upstream asked to wait; cannot pause the shared budget")
		case paused:
			log.Info().Dur("max_ms", d.cfg.RetryMaxDelay).Msg("the upstream asked to wait: the shared budget is paused, every replica's calls wait")
		}
	}()
}

// limitedCatalog makes the schema cache's upstream calls wait for the
// upstream rate limit like every other call.
type limitedCatalog struct {
	up  *visengine.Client
	lim consumer.Limiter
}

func (l limitedCatalog) Visure(ctx context.Context) ([]visengine.VisuraSummary, error) {
	if err := l.lim.Wait(ctx); err != nil {
		return nil, err
	}
	return l.up.Visure(ctx)
}

func (l limitedCatalog) Visura(ctx context.Context, hash string) (*visengine.Visura, error) {
	if err := l.lim.Wait(ctx); err != nil {
		return nil, err
	}
	return l.up.Visura(ctx, hash)
}

// newUpstream makes a Visengine client for cfg: the real API, or a new
// built-in simulator (returned, for the caller to close) on the defaults.
func newUpstream(cfg *Config, onRetryAfter func(time.Duration), log zerolog.Logger) (*visengine.Client, *simServer, error) {
	base, token := cfg.VisengineURL.URL, cfg.VisengineToken
	var s *simServer
	if cfg.simulated() {
		var err error
		if s, err = startSim(sim.Config{Step: cfg.SimStep, Profile: cfg.SimProfile, Echo: cfg.SimEcho}, log); err != nil {
			return nil, nil, err
		}
		base, token = s.base, s.token
	}
	c, err := visengine.New(visengine.Config{BaseURL: base, Token: token, Timeout: cfg.VisengineTimeout,
		MaxListBytes: cfg.VisengineMaxList, UserAgent: visengine.UserAgent(version), OnRetryAfter: onRetryAfter})
	if err != nil && s != nil {
		s.close()
		s = nil
	}
	return c, s, err
}

func (d *daemon) buildPipeline(ctx context.Context) error {
	l := d.res.Layout
	submissions, polls, err := d.upstreamBudget(ctx)
	if err != nil {
		return err
	}
	cache := schema.NewCache(limitedCatalog{d.upstream, submissions}, d.res.Schemas, schema.CacheConfig{TTL: d.cfg.SchemaTTL,
		Logger: d.log.With().Str("component", "schema").Logger()})
	replayKey, err := d.loadKey(ctx, d.cfg.ReplayKeyFile, "ISEED_REPLAY_KEY_FILE", replayKeyName)
	if err != nil {
		return err
	}
	// Operators' commands check their key against this before they sign.
	// A start-up step: retried like the others.
	if _, err := retryStartup(ctx, d.log, "the replay key's id", func(ctx context.Context) (uint64, error) {
		return d.res.Keys.Put(ctx, replayKeyIDName, []byte(dlq.KeyID(replayKey)))
	}); err != nil {
		return fmt.Errorf("note the replay key's id (%s in %s): %w", replayKeyIDName, l.KeysBucket(), err)
	}
	if d.tracking, err = d.buildTracking(ctx, polls, replayKey); err != nil {
		return err
	}
	if d.money, err = d.buildMoney(ctx); err != nil {
		return err
	}
	d.compareSpendingCaps(ctx)
	deps := consumer.Deps{
		Resources: d.res, Upstream: d.upstream, Schemas: cache, Files: schema.ObjectStoreSource(d.js),
		Events:    publisher.New(d.js, publisher.Config{Prefix: l.Prefix, EventsStream: l.EventsStream()}),
		Publisher: d.js, Limiter: submissions, Metrics: consumer.NewMetrics(d.metrics),
		Tracker: d.tracking.tracker, Gate: d.tracking.gate(d.cfg.PriorISEERule), Ledger: d.money.ledger,
	}
	if d.money.budgets != nil {
		deps.Budget = d.money.budgets
	}
	if d.money.account != nil {
		deps.Wallet = walletEnough{acct: d.money.account, gauge: d.money.wallet, min: 1} // any credit: the trial POST tells
	}
	d.pipeline, err = consumer.New(consumer.Config{
		Workers: d.cfg.Workers, CalmWorkers: calmWorkers, MaxAge: d.cfg.MaxAge, ShutdownTimeout: d.cfg.ShutdownTimeout, CallTimeout: d.cfg.VisengineTimeout,
		ReconcileSettle: d.cfg.ReconcileSettle, TrustMarkerEcho: d.cfg.TrustMarker, AdoptGrace: d.cfg.AdoptGrace, Now: d.clock.Now,
		WalletProbe:  d.cfg.WalletProbe,
		WithdrawWait: d.cfg.WithdrawWait,
		Retry:        d.cfg.retryPolicy(),
		Limits:       schema.Limits{MaxFileBytes: d.cfg.MaxFileBytes},
		Breaker:      consumer.BreakerConfig{Failures: d.cfg.BreakerFailures, Cooldown: d.cfg.BreakerCooldown},
		Logger:       d.log,
		Callback:     d.tracking.callback(),
		ReplayKey:    replayKey,
	}, deps)
	if err != nil {
		return err
	}
	d.replayKey = replayKey
	if err := d.buildRetention(); err != nil {
		return err
	}
	return d.buildOverview(d.cfg.UpstreamRPS)
}

func (d *daemon) buildHTTP() {
	mux := http.NewServeMux()
	// /metrics names every tenant and what it spent: like the console's
	// pages, it answers no host name a page of another origin could have
	// had resolved to this listener (DNS rebinding).
	// Its warning names the client as the console's lines do. Nor does it
	// answer through a reverse proxy: those in front of the console are
	// the public's way in; Prometheus scrapes the listener itself.
	proxies, _ := console.ParseTrustedProxies(d.cfg.ConsoleProxies) // validated with the configuration
	mux.Handle("GET /metrics", console.HostOnly(d.cfg.HTTPListen, d.cfg.ConsoleHosts, proxies, d.log,
		console.Direct(promhttp.HandlerFor(d.metrics, promhttp.HandlerOpts{Registry: d.metrics}))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.conn.nc.IsConnected() {
			http.Error(w, "NATS disconnected", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	d.mountConsole(mux, d.replayKey)
	// Every answer of the listener carries the console's security headers,
	// those the mux writes itself (404, 405, redirects) too.
	d.admin.srv = newHTTPServer(panicsLogged(d.log, d.admin.name, console.Secure(mux)))
	if d.public != nil && d.tracking.callbacks != nil {
		cb := http.NewServeMux()
		d.tracking.callbacks.Register(cb)
		d.public.srv = newCallbackServer(panicsLogged(d.log, d.public.name, cb))
	}
}

// listener is one HTTP listener of the daemon.
type listener struct {
	name string
	ln   net.Listener
	srv  *http.Server
}

// listen opens a listener at start, so that a port clash is reported at
// once, naming the variable to change.
func listen(name, variable, addr string) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w (set %s to a free address)", variable, addr, err, variable)
	}
	return &listener{name: name, ln: ln}, nil
}

// newHTTPServer bounds every phase of a connection: some come from outside.
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
}

// newCallbackServer is newHTTPServer for the listener the Internet reaches,
// where a caller holds a connection's buffers before it can be told from the
// upstream: headers are small and quick, idle connections close sooner.
// The body has its own deadline (tracking.CallbackConfig.BodyTimeout); the
// response waits for at most one refresh (30 s).
func newCallbackServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 30 * time.Second, MaxHeaderBytes: callbackMaxHeaderBytes}
}

// callbackMaxHeaderBytes bounds a callback's headers: the upstream sends a
// few short ones.
const callbackMaxHeaderBytes = 8 << 10

// serve serves until ctx is done, then shuts the server down.
func (l *listener) serve(ctx context.Context) error {
	if l == nil || l.srv == nil {
		<-ctx.Done()
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.srv.Shutdown(sctx)
	})
	defer stop()
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s listener: %w", l.name, err)
	}
	return nil
}

func (l *listener) close() {
	if l != nil {
		l.ln.Close() // Serve closed it already if it ran; closing again is harmless
	}
}

// The shutdown bound: from SIGTERM (or the first component failing) to
// exit takes at most ISEED_SHUTDOWN_TIMEOUT + shutdownMargin. In-flight
// work gets ISEED_SHUTDOWN_TIMEOUT counted from SIGTERM, then its context
// is cancelled and it has cancelGrace to record its outcome (the
// pipeline's final acks and publishes are bounded by 10 s); whatever still
// runs then is abandoned, as a crash would; the NATS drain then gets
// drainTimeout. An orchestrator's grace period must exceed the sum
// (docs/deploy.md).
const (
	cancelGrace    = 10 * time.Second
	drainTimeout   = 5 * time.Second
	shutdownMargin = cancelGrace + drainTimeout
)

// run runs every component until ctx is done or one fails. Shutdown order:
// stop pulling, finish in-flight work (consumer.Pipeline.Run) within
// ISEED_SHUTDOWN_TIMEOUT + cancelGrace, then close: flush pending
// publishes and drain the NATS connection within drainTimeout.
func (d *daemon) run(ctx context.Context) error {
	ev := d.log.Info().Str("component", "serve").Str("http", d.admin.ln.Addr().String())
	if d.public != nil {
		ev = ev.Str("callbacks", d.public.ln.Addr().String())
	}
	ev.Int("workers", d.cfg.Workers).Str("version", version).Msg("iseed started")
	actors := append([]actor{
		{"pipeline", d.pipeline.Run},
		{"advisories", d.pipeline.RunAdvisories},
		{"tracker", d.tracking.tracker.Run},
		{"spool sweep", d.tracking.spool.Run},
		{"http", d.admin.serve},
		{"callbacks", d.public.serve},
		{"clock", d.clock.Run},
		{"holds", d.pipeline.RunHolds},
		{"wallet gate", d.pipeline.RunWallet},
		{"wallet", d.runWallet},
		{"audit", d.runAudit},
		{"overview", d.overview.Run},
		{"spend today", d.money.today.Run},
		{"record scrub", d.runRetention},
	}, d.extra...)
	stopping := context.AfterFunc(ctx, func() {
		d.log.Info().Str("component", "serve").Dur("shutdown_timeout_ms", d.cfg.ShutdownTimeout).
			Dur("exit_within_ms", d.cfg.ShutdownTimeout+shutdownMargin).Msg("iseed stopping: pulling stopped, in-flight work finishing")
	})
	defer stopping()
	err := runGroup(ctx, d.cfg.ShutdownTimeout+cancelGrace, actors...)
	if ab := (*abandonedError)(nil); errors.As(err, &ab) {
		d.log.Error().Str("component", "serve").Strs("abandoned", ab.names).Str("stacks", ab.stacks).
			Msg("shutdown: components abandoned still running; their goroutines were stuck here")
	}
	d.log.Info().Str("component", "serve").Msg("iseed stopped; draining NATS")
	return err
}

// close releases everything newDaemon acquired, in reverse order.
func (d *daemon) close() {
	d.admin.close()
	d.public.close()
	if d.conn != nil {
		d.conn.close(drainTimeout)
	}
	if d.sim != nil {
		d.sim.close()
	}
}

// simServer is the built-in simulator on a loopback port.
type simServer struct {
	url, token string
	accountKey string // the simulated account API's key
	base       *url.URL
	srv        *http.Server
	sim        *sim.Server
	fresh      freshConns
}

// freshConns are the simulator's connections that have sent no request
// yet (http.StateNew). net/http's Shutdown takes such a connection for
// idle only once it is 5 s old, and waits for it until then: the daemon's
// HTTP client now and then dials one that another connection, freed
// meanwhile, made unneeded, and Ctrl-C on the demo then took 3.3 s in
// about one stop of ten. close closes them itself: the server has read no
// request on them (one arriving as the daemon stops is cut, as any other
// call to the simulator then would be: it goes with the daemon).
type freshConns struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

// track is the server's ConnState hook.
func (f *freshConns) track(c net.Conn, st http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st == http.StateNew {
		if f.m == nil {
			f.m = map[net.Conn]struct{}{}
		}
		f.m[c] = struct{}{}
		return
	}
	delete(f.m, c)
}

// close closes every connection that has sent no request yet.
func (f *freshConns) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.m {
		_ = c.Close()
	}
}

func startSim(cfg sim.Config, log zerolog.Logger) (*simServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	// Credentials of its own for each start: the simulator holds whatever
	// was submitted (names, tax codes, documents) and echoes it; a fixed
	// token would hand that to any local process.
	cfg.Token, cfg.AccountEmail, cfg.AccountAPIKey = rand.Text(), simAccountEmail, rand.Text()
	s := sim.New(cfg)
	srv := newSimServer(s, log)
	ss := &simServer{token: cfg.Token, accountKey: cfg.AccountAPIKey, srv: srv, sim: s}
	srv.ConnState = ss.fresh.track
	go func() { _ = srv.Serve(ln) }() // owned by close, which shuts srv down
	ss.base = &url.URL{Scheme: "http", Host: ln.Addr().String()}
	ss.url = ss.base.String()
	return ss, nil
}

// simAccess is how operator commands (iseed audit) reach the daemon's
// built-in simulator; the daemon writes it to the keys bucket (simURLKey).
type simAccess struct {
	URL        string `json:"url"`
	Token      string `json:"token"`
	AccountKey string `json:"account_key"`
}

// close stops the simulator first (releasing handlers a "hang" fault
// holds), then its HTTP server, with the connections that have sent no
// request yet (freshConns).
func (s *simServer) close() {
	s.sim.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.srv.Shutdown(ctx) }()
	// Again until Shutdown returns: one accepted as the listener closed
	// is fresh a moment later.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		s.fresh.close()
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
}
