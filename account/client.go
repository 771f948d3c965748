package account

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/money"
)

// Hosts of the account API.
const (
	ProductionURL = "https://oauth.openapi.com"
	SandboxURL    = "https://test.oauth.openapi.com"
)

// Defaults for the zero values of Config.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultMaxPages         = 1000
	DefaultMaxResponseBytes = 4 << 20
)

// PageSize is how many transactions each page asks for: the API's maximum.
const PageSize = 100

// Config configures a Client. BaseURL, Email and APIKey are required.
type Config struct {
	// BaseURL is the API's root: ProductionURL or SandboxURL. A path
	// prefix is kept; user information is refused (credentials go in
	// Email and APIKey).
	BaseURL *url.URL
	// Email and APIKey authenticate every call (HTTP Basic). Neither ever
	// appears in an error.
	Email, APIKey string
	// HTTPClient sends the calls. Nil: a client with dial, TLS and
	// response-header timeouts that never follows redirects.
	HTTPClient *http.Client
	// Timeout bounds each HTTP call (one page); zero means DefaultTimeout.
	Timeout time.Duration
	// MaxPages bounds the pages Transactions reads; zero means
	// DefaultMaxPages. Reaching it is an error, never a silent cut.
	MaxPages int
	// MaxResponseBytes bounds each answer; zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64
	// Now is the clock for Retry-After dates; nil means time.Now.
	Now func() time.Time
}

// Client calls Openapi's account API: the wallet and its transactions.
// It is safe for concurrent use.
type Client struct {
	base     string
	auth     string // "Basic …"
	secrets  []string
	hc       *http.Client
	timeout  time.Duration
	maxPages int
	maxResp  int64
	now      func() time.Time
}

// New returns a Client, or an error saying which setting to fix.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.BaseURL == nil || !cfg.BaseURL.IsAbs() || (cfg.BaseURL.Scheme != "https" && cfg.BaseURL.Scheme != "http"):
		return nil, fmt.Errorf("account: the base URL must be an absolute http(s) URL, e.g. %s", ProductionURL)
	case cfg.BaseURL.User != nil:
		return nil, errors.New("account: the base URL must not hold credentials: set the e-mail and the API key")
	case cfg.Email == "" || cfg.APIKey == "":
		return nil, errors.New("account: the e-mail and the API key are required")
	}
	token := base64.StdEncoding.EncodeToString([]byte(cfg.Email + ":" + cfg.APIKey))
	c := &Client{
		base: strings.TrimSuffix(cfg.BaseURL.String(), "/"), auth: "Basic " + token,
		secrets: []string{cfg.APIKey, token, cfg.Email},
		hc:      cfg.HTTPClient, timeout: cfg.Timeout, maxPages: cfg.MaxPages, maxResp: cfg.MaxResponseBytes, now: cfg.Now,
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.maxPages <= 0 {
		c.maxPages = DefaultMaxPages
	}
	if c.maxResp <= 0 {
		c.maxResp = DefaultMaxResponseBytes
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

func defaultHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   2,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Wallet is the account's wallet.
type Wallet struct {
	Credit    money.Cents // what is left to spend
	UpdatedAt time.Time   // when the credit last changed; zero when not sent
}

// Wallet returns the wallet's credit.
func (c *Client) Wallet(ctx context.Context) (Wallet, error) {
	const op = "GET /wallet"
	var w walletWire
	if err := c.get(ctx, op, "/wallet", &w); err != nil {
		return Wallet{}, err
	}
	return Wallet{Credit: w.Credit, UpdatedAt: time.Time(w.UpdatedAt)}, nil
}

// Transaction is one movement of the wallet.
type Transaction struct {
	ID          string
	Amount      money.Cents // negative for a charge, positive for a top-up
	CreatedAt   time.Time
	Description string // e.g. "API usage - visengine2.altravia.com <request id>"
}

// RequestID returns the upstream request id the description names (a
// word of 24 hexadecimal digits, as in "API usage -
// visengine2.altravia.com 5f2829ce065afc21cc60ad0e"), or "" when none.
func (t Transaction) RequestID() string {
	for _, w := range strings.FieldsFunc(t.Description, func(r rune) bool { return !isHex(r) }) {
		if len(w) == 24 {
			return strings.ToLower(w)
		}
	}
	return ""
}

func isHex(r rune) bool { return '0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F' }

// Transactions returns the wallet's transactions created at or after
// since, in the order the API lists them (newest first). It reads pages
// of PageSize until a short page, or, in a page listed newest first, one
// created before since. It fails rather than return a partial list: past
// MaxPages, or when a page repeats the previous one (the API ignoring
// skip). A transaction listed twice (a charge made while the pages are
// read shifts the older ones down a place) is returned once, by its id.
func (c *Client) Transactions(ctx context.Context, since time.Time) ([]Transaction, error) {
	const op = "GET /wallet/transactions"
	out := []Transaction{} // never nil: nil tells audit.Check the wallet was not read
	prevFirst := ""
	// A charge made while the pages are read pushes the older ones down
	// the newest-first list: a page may start with what the previous one
	// ended with. Each is returned once, or its amount would count twice.
	seen := map[string]bool{}
	for page := 0; page < c.maxPages; page++ {
		var l transactionList
		path := "/wallet/transactions?skip=" + strconv.Itoa(page*PageSize) + "&limit=" + strconv.Itoa(PageSize)
		if err := c.get(ctx, op, path, &l); err != nil {
			return nil, err
		}
		if len(l) > 0 && page > 0 && string(l[0].ID) == prevFirst && prevFirst != "" {
			return nil, &Error{Op: op, Class: ClassPermanent, Message: fmt.Sprintf("page %d repeats page %d: skip is ignored", page+1, page)}
		}
		older := false
		for _, t := range l {
			created := time.Time(t.CreatedAt)
			if created.Before(since) {
				older = true
				continue
			}
			if id := string(t.ID); id != "" {
				if seen[id] {
					continue
				}
				seen[id] = true
			}
			out = append(out, Transaction{ID: string(t.ID), Amount: t.Amount, CreatedAt: created, Description: string(t.Description)})
		}
		if len(l) < PageSize || older && newestFirst(l) {
			return out, nil
		}
		prevFirst = string(l[0].ID)
	}
	return nil, &Error{Op: op, Class: ClassPermanent, Message: fmt.Sprintf("more than %d pages of transactions since %s", c.maxPages, since.Format(time.RFC3339))}
}

// newestFirst reports whether a page is listed newest first.
func newestFirst(l transactionList) bool {
	for i := 1; i < len(l); i++ {
		if time.Time(l[i].CreatedAt).After(time.Time(l[i-1].CreatedAt)) {
			return false
		}
	}
	return true
}

// get makes one GET and decodes the envelope's data into out.
func (c *Client) get(ctx context.Context, op, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return &Error{Op: op, Class: ClassPermanent, Err: err}
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return &Error{Op: op, Class: ClassRetryable, Message: "no answer", Err: c.scrubErr(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResp+1))
	if err != nil {
		return &Error{Op: op, Status: resp.StatusCode, Class: ClassRetryable, Message: "answer cut", Err: c.scrubErr(err)}
	}
	if int64(len(body)) > c.maxResp {
		return &Error{Op: op, Status: resp.StatusCode, Class: ClassPermanent, Message: fmt.Sprintf("answer over %d bytes", c.maxResp), Err: ErrMalformed}
	}
	var env envelope
	decodeErr := json.Unmarshal(body, &env)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.statusError(op, resp, &env)
	}
	if decodeErr != nil {
		return &Error{Op: op, Status: resp.StatusCode, Class: ClassPermanent, Err: fmt.Errorf("%w: %w", ErrMalformed, decodeErr)}
	}
	if env.Success != nil && !*env.Success {
		msg, code := env.message()
		return &Error{Op: op, Status: resp.StatusCode, Code: code, Class: ClassPermanent, Message: c.scrub(msg)}
	}
	if err := json.Unmarshal(env.Data, out); err != nil || len(env.Data) == 0 {
		if err == nil {
			err = errors.New("no data")
		}
		return &Error{Op: op, Status: resp.StatusCode, Class: ClassPermanent, Err: fmt.Errorf("%w: %w", ErrMalformed, err)}
	}
	return nil
}

// statusError classifies an answer that is not a success.
func (c *Client) statusError(op string, resp *http.Response, env *envelope) *Error {
	msg, code := env.message()
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e := &Error{Op: op, Status: resp.StatusCode, Code: code, Message: c.scrub(msg), Class: ClassPermanent}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		e.Class = ClassThrottled
	case s == http.StatusRequestTimeout || s >= 500:
		e.Class = ClassRetryable
	}
	if s := resp.StatusCode; s == http.StatusTooManyRequests || s == http.StatusServiceUnavailable {
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return e
}

// retryAfter reads Retry-After as seconds or an HTTP date; 0 when absent,
// unreadable or past.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// scrub removes the API key, the Basic token and the e-mail from s.
func (c *Client) scrub(s string) string {
	for _, secret := range c.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
}

// scrubErr keeps an error's chain (context.Canceled, net errors) unless
// its text holds a secret.
func (c *Client) scrubErr(err error) error {
	if msg := err.Error(); c.scrub(msg) != msg {
		return errors.New(c.scrub(msg))
	}
	return err
}
