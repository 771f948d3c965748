package tracking

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// Callbacks. When iseed has a public URL, every submission carries
// callback_data {url: <public>/callbacks/<tenant>/<id>, method: "JSON",
// data: {"secret": S}} with S = hex(HMAC-SHA256(key, "<tenant>/<id>")): a
// per-request secret that iseed can recompute and so never stores. The
// upstream echoes callback_data in the request it posts back; the handler
// recomputes S and compares in constant time. A valid callback is a hint
// only: it triggers an immediate GET /richiesta/{id} through the same path
// as a poll (Tracker.Refresh); the body is never trusted for state.
// A forged one gets 403 and changes nothing (and is logged a few times a
// minute at most, whatever the rate). A genuine one re-reads the request at
// most once per MinInterval per submission and announced state: a body
// that leaked and is replayed costs at most one upstream read per interval
// and state (answered 204 meanwhile), and none once tracking is over. Polling stays on as the
// fallback, so a lost callback costs only latency.

// Refresher re-reads one submission's upstream request now.
type Refresher interface {
	Refresh(ctx context.Context, tenant, id string) error
}

// CallbackConfig configures the callback endpoint.
type CallbackConfig struct {
	PublicURL *url.URL      // iseed's public base URL, e.g. https://iseed.example.com
	Key       []byte        // HMAC key of the per-request secrets (at least 16 bytes)
	MaxBody   int64         // default 1 MiB
	Timeout   time.Duration // of one refresh (default 30s)
	Parallel  int           // refreshes at once (default 4); more get 503 with Retry-After
	// MinInterval is the least time between two refreshes of one
	// submission that callbacks announcing the same state trigger (default 1m).
	MinInterval time.Duration
	Logger      zerolog.Logger
}

// Callbacks makes callback_data for submissions and serves the callbacks.
type Callbacks struct {
	cfg     CallbackConfig
	refresh Refresher
	sem     chan struct{}
	log     zerolog.Logger // sampled: callbacks come from outside, at whatever rate
	recent  *recentSet     // submissions refreshed within MinInterval
}

// NewCallbacks returns the callback endpoint.
func NewCallbacks(cfg CallbackConfig, r Refresher) (*Callbacks, error) {
	if cfg.PublicURL == nil || cfg.PublicURL.Host == "" {
		return nil, errors.New("callbacks: a public URL with a host is required")
	}
	if len(cfg.Key) < 16 {
		return nil, errors.New("callbacks: the key must have at least 16 bytes")
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.MinInterval <= 0 {
		cfg.MinInterval = time.Minute
	}
	log := cfg.Logger.With().Str("component", "callbacks").Logger()
	return &Callbacks{cfg: cfg, refresh: r, sem: make(chan struct{}, cfg.Parallel),
		log: log.Sample(&zerolog.BurstSampler{Burst: 5, Period: time.Minute}), recent: newRecentSet(4096)}, nil
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
		http.NotFound(w, r)
		return
	}
	got, stato := c.parse(r)
	if !hmac.Equal([]byte(got), []byte(c.Secret(tenant, id))) {
		c.log.Warn().Str("tenant", tenant).Str("submission", id).Msg("callback with a wrong or missing secret: refused")
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if !c.recent.add(tenant+"/"+id+"/"+stato, time.Now(), c.cfg.MinInterval) {
		w.WriteHeader(http.StatusNoContent) // the same news a moment ago: that refresh and polling have it
		return
	}
	select {
	case c.sem <- struct{}{}:
		defer func() { <-c.sem }()
	default: // busy: the callback is only a hint, and polling catches up
		w.Header().Set("Retry-After", "5")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.cfg.Timeout)
	defer cancel()
	err := c.refresh.Refresh(ctx, tenant, id)
	switch {
	case errors.Is(err, record.ErrNotFound):
		http.NotFound(w, r)
	case err != nil:
		c.log.Warn().Str("tenant", tenant).Str("submission", id).Str("error", err.Error()).
			Msg("refresh after callback failed; polling will catch up")
		http.Error(w, "try again", http.StatusServiceUnavailable)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// secretOf finds the secret in a callback body: the request the upstream
// posts ({"data": <Richiesta>} as JSON, or a form field "data" holding it)
// echoes callback_data, whose data holds the secret. "" when absent.
func (c *Callbacks) secretOf(r *http.Request) string {
	secret, _ := c.parse(r)
	return secret
}

// parse reads a callback body: the secret, and the state it announces
// (normalised; "" when absent), which is never trusted beyond telling one
// callback's news from another's.
func (c *Callbacks) parse(r *http.Request) (secret, stato string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, c.cfg.MaxBody))
	if err != nil {
		return "", ""
	}
	raw := body
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return "", ""
		}
		raw = []byte(`{"data":` + v.Get("data") + `}`)
	}
	var cb struct {
		Data struct {
			Stato        string `json:"stato_richiesta"`
			CallbackData struct {
				Data struct {
					Secret string `json:"secret"`
				} `json:"data"`
			} `json:"callback_data"`
		} `json:"data"`
	}
	if json.Unmarshal(raw, &cb) != nil {
		return "", ""
	}
	return cb.Data.CallbackData.Data.Secret, visengine.NormalizeState(cb.Data.Stato)
}

// recentSet remembers, for a bounded number of keys, when each was last
// let through.
type recentSet struct {
	mu   sync.Mutex
	max  int
	last map[string]time.Time
}

func newRecentSet(max int) *recentSet {
	return &recentSet{max: max, last: make(map[string]time.Time)}
}

// add lets key through, and notes it, unless it was let through less than
// every ago. When full it forgets entries older than every, or all.
func (r *recentSet) add(key string, now time.Time, every time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.last[key]; ok && now.Sub(t) < every {
		return false
	}
	if len(r.last) >= r.max {
		for k, t := range r.last {
			if now.Sub(t) >= every {
				delete(r.last, k)
			}
		}
		if len(r.last) >= r.max {
			clear(r.last)
		}
	}
	r.last[key] = now
	return true
}
