package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// MinTokenLen is the shortest console token accepted.
const MinTokenLen = 16

// ErrNoToken means the console would serve a non-loopback address without
// a token.
var ErrNoToken = errors.New("the console refuses to serve a non-loopback address without a token")

// Check says whether the console may serve on listen (host:port, as
// ISEED_HTTP_LISTEN) with token (ISEED_CONSOLE_TOKEN): without a token only
// on a loopback address, and a token must be at least MinTokenLen
// characters. The error says what to change.
func Check(listen, token string) error {
	if token != "" {
		if len(token) < MinTokenLen {
			return fmt.Errorf("console: ISEED_CONSOLE_TOKEN has %d characters; use at least %d random ones (openssl rand -hex 32)", len(token), MinTokenLen)
		}
		return nil
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("console: ISEED_HTTP_LISTEN %q: %w", listen, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("console: ISEED_HTTP_LISTEN %s is not a loopback address and ISEED_CONSOLE_TOKEN is not set: %w; set ISEED_CONSOLE_TOKEN (at least %d characters) or listen on 127.0.0.1",
		listen, ErrNoToken, MinTokenLen)
}

// Config configures the console.
type Config struct {
	// Listen is the address the console is served on (ISEED_HTTP_LISTEN);
	// New checks it with Check.
	Listen string
	// Token is ISEED_CONSOLE_TOKEN. Empty: the console is read-only, for
	// everyone who reaches it (only on loopback). Set: every page asks for
	// it (a bearer header, or once in the login form, which sets a session
	// cookie), and operators may replay dead letters and reveal payloads.
	Token string
	// Hosts are the host names the console answers to beside IP addresses,
	// localhost and the host of Listen (ISEED_CONSOLE_HOSTS): a request
	// for another gets 421, against DNS rebinding.
	Hosts []string
	// TrustedProxies are the reverse proxies in front of the console
	// (ISEED_CONSOLE_TRUSTED_PROXIES, see ParseTrustedProxies). Only a
	// request whose peer is one of them has its client address taken from
	// X-Forwarded-For: the rightmost address there that is not a trusted
	// proxy. That address is what wrong tokens are limited by and what log
	// lines name as remote. Empty: the header is ignored.
	TrustedProxies []netip.Prefix
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration
	Logger     zerolog.Logger
	Now        func() time.Time
}

// Overview is what the console shows of the pipeline as a whole
// (*overview.Overview).
type Overview interface {
	Snapshot(ctx context.Context) (*overview.Snapshot, error)
	List(q overview.Query) overview.Page
}

// DeadLetters lists and replays dead letters (*dlq.Queue).
type DeadLetters interface {
	List(ctx context.Context, f dlq.Filter) ([]dlq.DeadLetter, error)
	Replay(ctx context.Context, seq uint64) error
	// CheckReopen says whether a replay of dl, whose payload has
	// fingerprint (consumer.LetterFingerprint), would reopen its
	// submission (rec: its record, nil when there is none).
	CheckReopen(ctx context.Context, dl dlq.DeadLetter, fingerprint string, rec *record.Record) (refused, err error)
}

// Deps are what the console reads and acts on.
type Deps struct {
	Overview    Overview
	DeadLetters DeadLetters
	// Resources are the layout's handles: the records bucket, the DLQ
	// stream and the events stream's name.
	Resources *layout.Resources
	JS        jetstream.JetStream // reads a submission's events
	// Spend, optional, returns the spend of every tenant and the caps of
	// every tenant and of the account (spend.go); the spend page says "not
	// configured" without it.
	Spend func(ctx context.Context) (*Spend, error)
}

// Console is the web console: server-rendered pages over the overview, the
// records, the events and the dead letters.
type Console struct {
	cfg   Config
	d     Deps
	log   zerolog.Logger
	pages *pages
	auth  *auth
	cross *http.CrossOriginProtection
	fails *failures // failed token attempts, per client address
	// proxies are the trusted reverse proxies: they say the client address.
	proxies proxies
	hosts   hosts
	// hostWarn logs refused hosts at most once a minute: a rebinding
	// page may ask many times.
	hostWarn *rate.Sometimes
	// proxyWarn logs requests through a proxy to a console without a
	// token at most once a minute.
	proxyWarn *rate.Sometimes
}

// New returns a console, or an error when cfg fails Check or a dependency
// is missing.
func New(cfg Config, d Deps) (*Console, error) {
	if err := Check(cfg.Listen, cfg.Token); err != nil {
		return nil, err
	}
	if d.Overview == nil || d.DeadLetters == nil || d.Resources == nil || d.Resources.Records == nil || d.Resources.DLQ == nil || d.JS == nil {
		return nil, errors.New("console: New needs the overview, the dead letters, the records bucket, the DLQ stream and a JetStream handle")
	}
	if cfg.Token != "" && d.Resources.Keys == nil {
		return nil, errors.New("console: New needs the keys bucket with a token: logouts are kept there")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h, err := newHosts(cfg.Listen, cfg.Hosts)
	if err != nil {
		return nil, err
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With().Str("component", "console").Logger()
	var keys jetstream.KeyValue // read-only: no sessions to revoke
	if cfg.Token != "" {
		keys = d.Resources.Keys
	}
	revoked := newRevocations(keys, d.JS, cfg.Now, log)
	return &Console{cfg: cfg, d: d, log: log, pages: p,
		auth: newAuth(cfg.Token, cfg.SessionTTL, cfg.Now, revoked), cross: http.NewCrossOriginProtection(),
		fails: newFailures(cfg.Now), proxies: cfg.TrustedProxies, hosts: h,
		hostWarn: &rate.Sometimes{First: 1, Interval: time.Minute}, proxyWarn: &rate.Sometimes{First: 1, Interval: time.Minute}}, nil
}

// Ready is closed once the console knows the sessions logged out on every
// replica, and accepts session cookies (at once when read-only).
func (c *Console) Ready() <-chan struct{} { return c.auth.revoked.readyc }

// Run learns the sessions logged out on every replica (none are accepted
// before), stores again the logouts NATS did not take, and sweeps the
// expired ones from NATS, until ctx is done. A read-only console has no
// sessions: Run only waits.
func (c *Console) Run(ctx context.Context) error {
	return c.auth.revoked.run(ctx)
}

// ReadOnly reports whether the console runs without a token.
func (c *Console) ReadOnly() bool { return c.cfg.Token == "" }

// Register mounts the console's pages on mux, under "/" but for the paths
// the daemon keeps (/metrics, /healthz, /readyz): the root itself and a
// few named paths. What mux answers itself (404, 405, redirects) passes
// no route of the console: serve mux wrapped with Secure.
func (c *Console) Register(mux *http.ServeMux) {
	routes := []struct {
		pattern string
		h       http.HandlerFunc
		access  access
	}{
		{"GET /{$}", c.overview, viewer},
		{"GET /open", c.open, viewer},
		{"GET /submission", c.submission, viewer},
		{"GET /submission/cancel", c.confirmCancel, operator},
		{"POST /submission/cancel", c.cancelUnsent, operator},
		{"GET /dead-letters", c.deadLetters, viewer},
		{"GET /dead-letters/{seq}", c.deadLetter, viewer},
		{"GET /dead-letters/{seq}/replay", c.confirmReplay, operator},
		{"POST /dead-letters/{seq}/replay", c.replay, operator},
		{"POST /dead-letters/{seq}/reveal", c.reveal, operator},
		{"GET /spend", c.spend, viewer},
		{"GET /login", c.loginForm, anyone},
		{"POST /login", c.login, anyone},
		{"POST /logout", c.logout, viewer},
	}
	for _, r := range routes {
		mux.Handle(r.pattern, c.guard(r.access, r.h))
	}
	mux.Handle("GET /static/style.css", Secure(c.hostOnly(http.HandlerFunc(style))))
	mux.Handle("GET /static/", Secure(c.hostOnly(http.NotFoundHandler()))) // only the stylesheet is there
}
