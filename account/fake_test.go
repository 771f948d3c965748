package account_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/account"
)

const (
	email  = "ops@example.test"
	apiKey = "k3y-s3cr3t-0123456789"
)

// fake serves GET /wallet and GET /wallet/transactions as the API
// description's examples show them, newest first, with Basic auth.
type fake struct {
	mu     sync.Mutex
	credit any   // the "credit" value sent
	txs    []any // transactions, newest first, as sent
	pages  []string
	fail   func(w http.ResponseWriter, r *http.Request) bool // answers instead when it returns true
	noSkip bool                                              // ignore skip, as a broken server would
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil && f.fail(w, r) {
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != email || pass != apiKey {
		writeJSON(w, 401, map[string]any{"success": false, "message": "Unauthorized", "error": 140, "data": nil})
		return
	}
	switch r.URL.Path {
	case "/wallet":
		writeJSON(w, 200, map[string]any{"data": map[string]any{"credit": f.credit,
			"createdAt": "2025-01-15T10:00:00+00:00", "updatedAt": "2026-02-12T08:30:00+00:00"}})
	case "/wallet/transactions":
		skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 100 {
			limit = 100
		}
		if f.noSkip {
			skip = 0
		}
		f.pages = append(f.pages, r.URL.RawQuery)
		end := min(skip+limit, len(f.txs))
		page := []any{}
		if skip < end {
			page = f.txs[skip:end]
		}
		writeJSON(w, 200, map[string]any{"data": page})
	default:
		writeJSON(w, 404, map[string]any{"success": false, "message": "Not Found", "error": 404, "data": nil})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// tx is one transaction as the API sends it.
func tx(id string, amount any, created time.Time, desc string) map[string]any {
	return map[string]any{"id": id, "amount": amount, "createdAt": created.Format("2006-01-02T15:04:05-07:00"), "description": desc}
}

// charges returns n transactions, newest first, one a minute back from start.
func charges(n int, start time.Time) []any {
	out := make([]any, n)
	for i := range n {
		out[i] = tx(fmt.Sprintf("txn_%04d", i), -15.5, start.Add(-time.Duration(i)*time.Minute),
			fmt.Sprintf("API usage - visengine2.altravia.com %024x", i))
	}
	return out
}

func serve(t *testing.T, f *fake) *account.Client { return serveCfg(t, f, account.Config{}) }

// serveCfg serves f and returns a client of it configured by cfg.
func serveCfg(t *testing.T, f *fake, cfg account.Config) *account.Client {
	t.Helper()
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	u, _ := url.Parse(ts.URL)
	cfg.BaseURL, cfg.Email, cfg.APIKey, cfg.HTTPClient, cfg.Timeout = u, email, apiKey, ts.Client(), 5*time.Second
	c, err := account.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func basicToken() string { return base64.StdEncoding.EncodeToString([]byte(email + ":" + apiKey)) }
