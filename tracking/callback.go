package tracking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// Callbacks. When iseed has a public URL, every submission carries
// callback_data {url: <public>/callbacks/<tenant>/<id>, method: "JSON",
// data: {"secret": S}} with S = hex(HMAC-SHA256(key, "<tenant>/<id>")): a
// per-request secret that iseed can recompute and so never stores. The
// upstream echoes callback_data in the request it posts back (its data as
// the object sent, or as a string holding its text: echoedSecret); the
// handler recomputes S and compares in constant time. A valid callback is a hint
// only: it triggers an immediate GET /richiesta/{id} through the same path
// as a poll (Tracker.Reread); the body is never trusted for state.
//
// Anyone can post, so what a callback may cost is bounded before the
// secret is known: a body is read within BodyTimeout, a JSON one streamed
// whatever its size (the upstream may echo scans of documents) keeping a
// few KiB, so that a sender that stalls holds only its own connection; a
// form body is read whole within MaxBody, at most Readers at once, and a
// form that finds every reader busy for a second gets 503 unread
// (callbackbody.go). A forged one gets 403 and
// changes nothing (and is logged a few times a minute at most, whatever
// the rate, with its peer's address: callbacksource.go). A genuine one re-reads the request at most once per
// MinInterval per submission and announced state, where the state is one
// of the five the API names or "other": a body that leaked, replayed with
// any states, costs at most six upstream reads per interval on each
// replica it reaches, each process remembering only what it let through
// itself (answered 200
// meanwhile, or 503 with Retry-After when that read failed, so that the
// upstream's retry is never taken for done), and none once tracking is
// over, but for a request tracking gave up on (the upstream's completion
// overrides the give-up, catchup.go). What was let through is remembered
// for recentMax news within MinInterval; news beyond gets 503 with
// Retry-After, never a read, so that no flood of news, genuine or leaked,
// makes a leaked body's news be forgotten. One submission has at most one
// refresh under way, so a flood of one body takes one of the Parallel
// slots, never the others'
// (callbacklimit.go). A callback for a request whose tracking has not
// started (the upstream called back before iseed had its POST's answer)
// waits up to NotYetWait for it, then gets 503 with its news not counted,
// so that the retry is let through: a check costs a record read, never an
// upstream read. Polling stays on as the
// fallback, so a lost callback costs only latency; callbacks that stop
// arriving altogether stop polls being stretched (callbacktrust.go). Every
// answer counts in iseed_callbacks_total under its outcome (metrics.go),
// never under the tenant or id a caller makes up.

// Refresher re-reads one submission's upstream request now.
type Refresher interface {
	// Reread reports whether the request was read: one no longer (or not
	// yet) tracked is not, and that is no error.
	Reread(ctx context.Context, tenant, id string) (read bool, err error)
}

// CallbackConfig configures the callback endpoint.
type CallbackConfig struct {
	PublicURL *url.URL      // iseed's public base URL, e.g. https://iseed.example.com
	Key       []byte        // HMAC key of the per-request secrets (at least 16 bytes)
	MaxBody   int64         // of a form body (default 256 KiB): a larger one gets 413; a JSON body is streamed, whatever its size
	Timeout   time.Duration // of one refresh (default 30s)
	Parallel  int           // refreshes at once (default 4); more get 503 with Retry-After
	// Readers is how many form bodies are read at once (default 16): the
	// memory forms can make the endpoint hold is about Readers × MaxBody. A
	// JSON body takes no reader: it holds a few KiB while it streams.
	Readers int
	// BodyTimeout bounds reading one body once a reader is free (default
	// 5s): a sender that stalls gets 408 and frees the reader.
	BodyTimeout time.Duration
	// MinInterval is the least time between two refreshes of one
	// submission that callbacks announcing the same state trigger (default 1m).
	MinInterval time.Duration
	// NotYetWait is how long a callback for a request not tracked yet
	// (ErrNotYetTracked: its POST's answer not recorded yet, as when the
	// upstream calls back before answering) waits for its tracking to
	// start (default 2s), checking again with backoff, a refresh slot
	// taken for each check only; then it gets 503 with Retry-After, and
	// its news is not counted as let through, so that the retry is.
	NotYetWait time.Duration
	Logger     zerolog.Logger
	// Metrics counts the answers (iseed_callbacks_total); nil counts nothing.
	Metrics *Metrics
}

// readerWait is how long a form callback waits for a free reader before
// 503: a burst of genuine callbacks queues, and a waiting one holds no body.
const readerWait = time.Second

// A callback for a request not tracked yet checks again after
// notYetFirst, then after twice as long each time, at most notYetMax
// apart; at most maxNotYet such callbacks wait at once (one per
// submission: the others of a submission get 503 meanwhile), and one
// beyond gets 503 with Retry-After at once.
const (
	notYetFirst = 25 * time.Millisecond
	notYetMax   = 400 * time.Millisecond
	maxNotYet   = 64
)

// Callbacks makes callback_data for submissions and serves the callbacks.
type Callbacks struct {
	cfg      CallbackConfig
	refresh  Refresher
	sem      chan struct{}  // refreshes under way
	readers  chan struct{}  // bodies being read
	reading  atomic.Int32   // bodies being read now (readers bounds the forms among them)
	log      zerolog.Logger // failed refreshes, sampled
	forged   zerolog.Logger // forged callbacks, sampled apart: they come from anyone, at whatever rate, and must not silence log
	recent   *recentSet     // submission and state refreshed within MinInterval
	underway *keySet        // submissions with a refresh under way
	notYet   chan struct{}  // callbacks waiting for their request's tracking to start
}

// NewCallbacks returns the callback endpoint.
func NewCallbacks(cfg CallbackConfig, r Refresher) (*Callbacks, error) {
	if cfg.PublicURL == nil || cfg.PublicURL.Host == "" {
		return nil, errors.New("callbacks: a public URL with a host is required")
	}
	if len(cfg.Key) < 16 {
		return nil, errors.New("callbacks: the key must have at least 16 bytes")
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With().Str("component", "callbacks").Logger()
	sampled := func() zerolog.Logger { return log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute}) }
	return &Callbacks{cfg: cfg, refresh: r, sem: make(chan struct{}, cfg.Parallel),
		readers: make(chan struct{}, cfg.Readers), log: sampled(), forged: sampled(),
		recent: newRecentSet(recentMax), underway: newKeySet(), notYet: make(chan struct{}, maxNotYet)}, nil
}

func (cfg CallbackConfig) withDefaults() CallbackConfig {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 256 << 10
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.Readers <= 0 {
		cfg.Readers = 16
	}
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = 5 * time.Second
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = time.Minute
	}
	if cfg.NotYetWait <= 0 {
		cfg.NotYetWait = 2 * time.Second
	}
	return cfg
}

// Secret is the per-request secret of a submission.
func (c *Callbacks) Secret(tenant, id string) string {
	m := hmac.New(sha256.New, c.cfg.Key)
	m.Write([]byte(tenant + "/" + id))
	return hex.EncodeToString(m.Sum(nil))
}

// Data returns the callback_data to send with a submission; it fits
// consumer.Config.Callback.
func (c *Callbacks) Data(tenant, id string) *visengine.CallbackData {
	secret, _ := json.Marshal(map[string]string{"secret": c.Secret(tenant, id)})
	return &visengine.CallbackData{URL: c.cfg.PublicURL.JoinPath("callbacks", tenant, id).String(),
		Method: "JSON", Field: "data", Data: secret}
}

// Register mounts the endpoint on mux: POST /callbacks/{tenant}/{id}.
func (c *Callbacks) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /callbacks/{tenant}/{id}", c.serve)
}

func (c *Callbacks) serve(w http.ResponseWriter, r *http.Request) {
	tenant, id := r.PathValue("tenant"), r.PathValue("id")
	if !record.ValidToken(tenant) || !record.ValidToken(id) {
		c.cfg.Metrics.callback(cbBadPath)
		http.NotFound(w, r)
		return
	}
	cb, ok := c.read(w, r)
	if !ok {
		return
	}
	if !hmac.Equal([]byte(cb.secret), []byte(c.Secret(tenant, id))) {
		c.cfg.Metrics.callback(forgery(cb))
		withSource(c.forged.Warn(), r).Str("tenant", tenant).Str("submission", id).Msg("callback with a wrong or missing secret: refused")
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	c.hint(w, r, tenant, id, newsOf(cb.stato))
}

// hint re-reads the request a genuine callback announces news of, unless
// that news was let through less than MinInterval ago.
func (c *Callbacks) hint(w http.ResponseWriter, r *http.Request, tenant, id, news string) {
	sub := tenant + "/" + id
	key := sub + "/" + news
	if m, ok := c.recent.seen(key, time.Now(), c.cfg.MinInterval); ok {
		c.again(w, m)
		return
	}
	if !c.underway.add(sub) { // this submission is being re-read: one at a time, whatever its callbacks say
		c.busy(w)
		return
	}
	defer c.underway.remove(sub)
	if !c.takeSlot() { // busy: the callback is only a hint, and polling catches up
		c.busy(w)
		return
	}
	// Noted only now, so that a callback refused above is let through when
	// the upstream retries it.
	switch m, seen, full := c.recent.add(key, time.Now(), c.cfg.MinInterval); {
	case seen:
		<-c.sem
		c.again(w, m)
		return
	case full: // more news within MinInterval than are remembered: retried later, polling catches up
		<-c.sem
		c.cfg.Metrics.callback(cbTooManyNews)
		answerBusy(w)
		return
	}
	c.refreshNow(w, r, tenant, id, key)
}

// takeSlot takes a refresh slot if one is free.
func (c *Callbacks) takeSlot() bool {
	select {
	case c.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

// again answers a callback whose news was let through less than
// MinInterval ago: 200 when that refresh went through (it and polling have
// the news), else 503 with Retry-After the rest of the interval, never 200:
// the upstream was told to retry, and its retry must not be taken for done.
// The failed refresh counts against the interval all the same, so a leaked
// body costs no more reads. While that refresh is still under way (or
// waits for the request's tracking to start), 503 with Retry-After 5: it
// may yet fail.
func (c *Callbacks) again(w http.ResponseWriter, m mark) {
	if m.pending {
		c.busy(w)
		return
	}
	if !m.failed {
		c.cfg.Metrics.callback(cbRepeat)
		w.WriteHeader(http.StatusOK)
		return
	}
	c.cfg.Metrics.callback(cbRepeatFailed)
	left := c.cfg.MinInterval - time.Since(m.at)
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(left.Seconds())))))
	http.Error(w, "try again", http.StatusServiceUnavailable)
}

// busy answers 503 with Retry-After to a callback refused for want of a
// reader or a refresh slot: the upstream retries.
func (c *Callbacks) busy(w http.ResponseWriter) {
	c.cfg.Metrics.callback(cbBusy)
	answerBusy(w)
}

// answerBusy answers 503 with Retry-After: the upstream retries.
func answerBusy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "busy", http.StatusServiceUnavailable)
}

// refreshNow re-reads the request with a refresh slot taken, which it
// frees; one not tracked yet is waited for (rereadWhenTracked).
func (c *Callbacks) refreshNow(w http.ResponseWriter, r *http.Request, tenant, id, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.cfg.Timeout)
	defer cancel()
	read, err := c.reread(ctx, tenant, id)
	if errors.Is(err, ErrNotYetTracked) {
		read, err = c.rereadWhenTracked(ctx, tenant, id)
	}
	switch {
	case errors.Is(err, errNoSlot):
		c.recent.forget(key) // not let through: the upstream's retry is
		c.busy(w)
	case errors.Is(err, ErrNotYetTracked):
		c.recent.forget(key) // not let through: the upstream's retry is
		c.cfg.Metrics.callback(cbNotYet)
		answerBusy(w)
	case errors.Is(err, record.ErrNotFound):
		c.recent.done(key)
		c.cfg.Metrics.callback(cbUnknown)
		http.NotFound(w, r)
	case err != nil:
		c.recent.fail(key) // its retries are answered 503 until one is let through
		c.cfg.Metrics.callback(cbRefreshFailed)
		c.log.Warn().Str("tenant", tenant).Str("submission", id).Str("error", err.Error()).
			Msg("refresh after callback failed; answered 503 so that the upstream retries, and polling catches up while the request is tracked")
		http.Error(w, "try again", http.StatusServiceUnavailable)
	case !read: // not tracked: nothing to re-read, and no re-read to count
		c.recent.done(key)
		c.cfg.Metrics.callback(cbNotTracked)
		w.WriteHeader(http.StatusOK)
	default:
		c.recent.done(key)
		c.cfg.Metrics.callback(cbRefreshed)
		w.WriteHeader(http.StatusOK)
	}
}

// reread re-reads the request with the refresh slot taken, which it frees.
func (c *Callbacks) reread(ctx context.Context, tenant, id string) (bool, error) {
	defer func() { <-c.sem }()
	return c.refresh.Reread(ctx, tenant, id)
}

// errNoSlot: a check for a request not tracked yet found every refresh
// slot taken.
var errNoSlot = errors.New("no free refresh slot")

// rereadWhenTracked re-reads a request not tracked yet once its tracking
// starts, checking again with backoff for at most NotYetWait, a refresh
// slot taken for each check only: its POST's answer is usually
// milliseconds away, as when the upstream calls back before it answers.
// It gives up with ErrNotYetTracked when the wait is over or too many
// callbacks wait already, and with errNoSlot when a check finds no free
// slot.
func (c *Callbacks) rereadWhenTracked(ctx context.Context, tenant, id string) (bool, error) {
	select {
	case c.notYet <- struct{}{}:
		defer func() { <-c.notYet }()
	default:
		return false, ErrNotYetTracked
	}
	deadline := time.Now().Add(c.cfg.NotYetWait)
	for wait := notYetFirst; ; wait = min(2*wait, notYetMax) {
		if time.Until(deadline) < wait {
			return false, ErrNotYetTracked
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false, ErrNotYetTracked
		}
		if !c.takeSlot() {
			return false, errNoSlot
		}
		if read, err := c.reread(ctx, tenant, id); !errors.Is(err, ErrNotYetTracked) {
			return read, err
		}
	}
}

// forgery is the outcome of a callback refused for its secret: no_secret
// when it has none (a body that is not a request, or one iseed cannot
// read: were the upstream's callbacks to change shape, every one would
// be), else forged.
func forgery(cb callbackBody) callbackOutcome {
	if cb.secret == "" {
		return cbNoSecret
	}
	return cbForged
}

// newsOf is what a callback announcing state stato is news of, for the
// rate limit: one of the five states the API names (normalised), or
// "other" for anything else, so that made-up states count as one.
func newsOf(stato string) string {
	switch s := visengine.NormalizeState(stato); s {
	case visengine.StateSearching, visengine.StateInProgress, visengine.StateDataReady,
		visengine.StateFulfilled, visengine.StateCancelled:
		return s
	}
	return "other"
}
