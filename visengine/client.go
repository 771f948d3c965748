package visengine

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultDocumentTimeout  = 5 * time.Minute
	DefaultMaxResponseBytes = 8 << 20
	DefaultMaxDocumentBytes = 256 << 20
	DefaultMaxListBytes     = 128 << 20
	DefaultMaxValueBytes    = 1 << 20
	DefaultMaxPreambleBytes = 64 << 10
)

// Timeouts and pool size of the HTTP client New builds when Config.HTTPClient is nil.
const (
	dialTimeout         = 5 * time.Second
	tlsHandshakeTimeout = 5 * time.Second
	idleConnTimeout     = 90 * time.Second
	maxIdleConns        = 256 // above the most workers iseed chooses (128) and its trackers: a connection kept for each call that may run at once
)

// Config configures a Client. Only BaseURL and Token are required.
type Config struct {
	// BaseURL is the API's root, e.g. https://visengine2.altravia.com
	// (sandbox: https://test.visengine2.altravia.com). A path prefix is kept.
	BaseURL *url.URL
	// Token is the bearer token sent with every call.
	Token string
	// HTTPClient sends the calls. Nil: New builds one with dial and TLS
	// timeouts of 5s, a response-header timeout of the longer of Timeout and
	// DocumentTimeout (each call is bounded by its own) and an idle pool
	// sized for about 64 concurrent calls. Redirects are never followed unless the
	// given client sets its own CheckRedirect.
	HTTPClient *http.Client
	// Timeout bounds each call except Documento; zero means DefaultTimeout.
	Timeout time.Duration
	// DocumentTimeout bounds each Documento call; zero means DefaultDocumentTimeout.
	DocumentTimeout time.Duration
	// UserAgent is sent as given; empty means UserAgent("dev").
	UserAgent string
	// MaxResponseBytes bounds the bytes kept from an answer; zero means
	// DefaultMaxResponseBytes. The catalog's answers (GET /visure, GET
	// /visure/{hash}) are kept whole, so it bounds their size. The answers
	// about one request (POST /richiesta, GET, PUT and DELETE
	// /richiesta/{id}) are streamed: it bounds the values kept from them,
	// and what is not kept (unknown keys, values over MaxValueBytes, inline
	// file payloads echoed in json_ricerca) is skipped whatever its size, so
	// that a large answer to a paid POST is never taken for a lost one.
	MaxResponseBytes int64
	// MaxValueBytes bounds each value kept from an answer about one request
	// (a field, a json_ricerca or json_mappato value); a longer one is left
	// out (Ricerca.Cut). Zero means DefaultMaxValueBytes. The request's _id
	// has its own bound of 1 KiB.
	MaxValueBytes int64
	// MaxPreambleBytes bounds the text skipped before an answer's JSON (a
	// byte order mark, PHP notices); zero means DefaultMaxPreambleBytes. An
	// answer with more is unreadable (ambiguous for a POST, PUT or DELETE).
	MaxPreambleBytes int64
	// MaxDocumentBytes bounds a /documento answer (base64, about 4/3 of the
	// file); zero means DefaultMaxDocumentBytes.
	MaxDocumentBytes int64
	// OnRetryAfter, when set, is told the wait of every answer that asks
	// the caller to wait (429 or 503 with Retry-After), before the call
	// returns: the whole deployment, not only this call, should wait (iseed
	// pauses its shared upstream budget). It must not block.
	OnRetryAfter func(time.Duration)
	// MaxListBytes bounds the GET /richiesta answer, which lists every
	// request of the account (no paging; reconciliation depends on it);
	// zero means DefaultMaxListBytes.
	MaxListBytes int64
}

// UserAgent returns the User-Agent iseed sends, e.g.
// "iseed/1.2.0 (+https://github.com/iseed-dev/iseed)".
func UserAgent(version string) string {
	return "iseed/" + version + " (+https://github.com/iseed-dev/iseed)"
}

// Client calls the Visengine 2.0 API. It is safe for concurrent use.
type Client struct {
	base        string // BaseURL without a trailing slash
	token       string
	userAgent   string
	hc          *http.Client
	timeout     time.Duration
	docTime     time.Duration
	maxResp     int64
	maxDoc      int64
	maxList     int64
	maxValue    int
	maxPreamble int
	now         func() time.Time
	onWait      func(time.Duration) // Config.OnRetryAfter
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{
		base:        strings.TrimSuffix(cfg.BaseURL.String(), "/"),
		token:       cfg.Token,
		userAgent:   cmp.Or(cfg.UserAgent, UserAgent("dev")),
		timeout:     cmp.Or(cfg.Timeout, DefaultTimeout),
		docTime:     cmp.Or(cfg.DocumentTimeout, DefaultDocumentTimeout),
		maxResp:     cmp.Or(cfg.MaxResponseBytes, DefaultMaxResponseBytes),
		maxDoc:      cmp.Or(cfg.MaxDocumentBytes, DefaultMaxDocumentBytes),
		maxList:     cmp.Or(cfg.MaxListBytes, DefaultMaxListBytes),
		maxValue:    int(min(cmp.Or(cfg.MaxValueBytes, DefaultMaxValueBytes), math.MaxInt32)),
		maxPreamble: int(min(cmp.Or(cfg.MaxPreambleBytes, DefaultMaxPreambleBytes), math.MaxInt32)),
		now:         time.Now,
		onWait:      cfg.OnRetryAfter,
	}
	c.hc = httpClient(cfg.HTTPClient, max(c.timeout, c.docTime))
	return c, nil
}

func (cfg Config) validate() error {
	var errs []error
	u := cfg.BaseURL
	switch {
	case u == nil:
		errs = append(errs, errors.New("BaseURL is required (e.g. https://visengine2.altravia.com)"))
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		errs = append(errs, fmt.Errorf("BaseURL %q must be an absolute http(s) URL", u.Redacted()))
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		errs = append(errs, fmt.Errorf("BaseURL %q must not carry a query, fragment or user info", u.Redacted()))
	}
	if strings.TrimSpace(cfg.Token) == "" {
		errs = append(errs, errors.New("Token is required (a bearer token from the Openapi OAuth service)"))
	}
	if strings.ContainsAny(cfg.Token, "\r\n") {
		errs = append(errs, errors.New("Token must be a single line"))
	}
	if cfg.Timeout < 0 || cfg.DocumentTimeout < 0 {
		errs = append(errs, errors.New("Timeout and DocumentTimeout must not be negative"))
	}
	if cfg.MaxResponseBytes < 0 || cfg.MaxDocumentBytes < 0 || cfg.MaxListBytes < 0 || cfg.MaxValueBytes < 0 || cfg.MaxPreambleBytes < 0 {
		errs = append(errs, errors.New("MaxResponseBytes, MaxDocumentBytes, MaxListBytes, MaxValueBytes and MaxPreambleBytes must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("visengine: invalid config: %w", err)
	}
	return nil
}

// httpClient returns given, made not to follow redirects unless it says
// otherwise, or a new client with sane timeouts. Its wait for an answer's
// headers is headers, the longest a call may take: a fixed 30 s cut a
// document the upstream took longer to start sending (it encodes the
// whole file first) at every poll, whatever DocumentTimeout said.
func httpClient(given *http.Client, headers time.Duration) *http.Client {
	if given != nil {
		hc := *given
		if hc.CheckRedirect == nil {
			hc.CheckRedirect = noRedirects
		}
		return &hc
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   tlsHandshakeTimeout,
			ResponseHeaderTimeout: headers,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       idleConnTimeout,
			MaxIdleConns:          maxIdleConns,
			MaxIdleConnsPerHost:   maxIdleConns,
		},
		CheckRedirect: noRedirects,
	}
}

// noRedirects hands a 3xx back to the caller: following a redirect would
// turn a POST into a GET and send the token to another URL.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
