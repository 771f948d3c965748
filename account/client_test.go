package account_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/account"
	"github.com/iseed-dev/iseed/money"
)

func TestWallet(t *testing.T) {
	tests := []struct {
		name   string
		credit any
		want   money.Cents
	}{
		{"number", 125.5, 12550},
		{"string with a decimal comma", "125,50", 12550},
		{"integer", 1000, 100000},
		{"float noise", 0.1 + 0.2, 30},
	}
	for _, tt := range tests {
		c := serve(t, &fake{credit: tt.credit})
		w, err := c.Wallet(context.Background())
		if err != nil || w.Credit != tt.want || !w.UpdatedAt.Equal(time.Date(2026, 2, 12, 8, 30, 0, 0, time.UTC)) {
			t.Errorf("%s: got %+v, %v; want %s updated 2026-02-12T08:30Z", tt.name, w, err, tt.want)
		}
	}
}

func TestTransactionsExample(t *testing.T) {
	// The API description's example, plus an unknown field and a string amount.
	f := &fake{txs: []any{
		map[string]any{"id": "txn_65a1b2c3d4e5f6789abc001", "amount": -15.5, "createdAt": "2026-02-12T08:30:00+00:00",
			"description": "API usage - company.openapi.com", "currency": "EUR"},
		map[string]any{"id": "txn_65a1b2c3d4e5f6789abc002", "amount": "100", "createdAt": "2026-02-10T14:15:00+00:00", "description": "Wallet recharge"},
		map[string]any{"id": 3, "amount": "-5,25", "createdAt": "2026-02-09 11:20:00", "description": nil},
	}}
	got, err := serve(t, f).Transactions(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []account.Transaction{
		{ID: "txn_65a1b2c3d4e5f6789abc001", Amount: -1550, CreatedAt: time.Date(2026, 2, 12, 8, 30, 0, 0, time.UTC), Description: "API usage - company.openapi.com"},
		{ID: "txn_65a1b2c3d4e5f6789abc002", Amount: 10000, CreatedAt: time.Date(2026, 2, 10, 14, 15, 0, 0, time.UTC), Description: "Wallet recharge"},
		{ID: "3", Amount: -525, CreatedAt: time.Date(2026, 2, 9, 11, 20, 0, 0, time.UTC)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v,\nwant %+v", got, want)
	}
}

func TestTransactionsPaging(t *testing.T) {
	start := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		n     int
		since time.Time
		want  int
		pages []string
	}{
		{"one short page", 42, time.Time{}, 42, []string{"skip=0&limit=100"}},
		{"exactly one page then an empty one", 100, time.Time{}, 100, []string{"skip=0&limit=100", "skip=100&limit=100"}},
		{"three pages", 250, time.Time{}, 250, []string{"skip=0&limit=100", "skip=100&limit=100", "skip=200&limit=100"}},
		{"stops at the page reaching since", 1000, start.Add(-150 * time.Minute), 151, []string{"skip=0&limit=100", "skip=100&limit=100"}},
		{"none", 0, time.Time{}, 0, []string{"skip=0&limit=100"}},
		{"none since", 10, start.Add(time.Hour), 0, []string{"skip=0&limit=100"}},
	}
	for _, tt := range tests {
		f := &fake{txs: charges(tt.n, start)}
		got, err := serve(t, f).Transactions(context.Background(), tt.since)
		if err == nil && got == nil { // audit.Input: nil means the wallet is not checked
			t.Errorf("%s: got nil, want an empty list: the wallet was read and holds none", tt.name)
		}
		if err != nil || len(got) != tt.want || !reflect.DeepEqual(f.pages, tt.pages) {
			t.Errorf("%s: got %d transactions, %v, pages %v; want %d, pages %v", tt.name, len(got), err, f.pages, tt.want, tt.pages)
		}
	}
}

// TestTransactionsChargedWhilePaging: a charge made while the pages are
// read (the daemon keeps spending during an audit) pushes every older
// transaction one place down the newest-first listing, so the next page
// starts with the one the previous page ended with. Each transaction is
// returned once: a repeated one would count its charge twice, and the
// audit would report a price mismatch against the wallet that is not.
func TestTransactionsChargedWhilePaging(t *testing.T) {
	start := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
	f := &fake{txs: charges(250, start)}
	charged := false
	f.fail = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Query().Get("skip") == "100" && !charged { // after the first page
			charged = true
			f.txs = append([]any{tx("txn_new", -15.5, start.Add(time.Minute), "API usage - visengine2.altravia.com "+strings.Repeat("f", 24))}, f.txs...)
		}
		return false
	}
	got, err := serve(t, f).Transactions(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, tr := range got {
		seen[tr.ID]++
	}
	for i := range 250 {
		if id := fmt.Sprintf("txn_%04d", i); seen[id] != 1 {
			t.Errorf("transaction %s: got it %d times, want once", id, seen[id])
		}
	}
	if len(got) != len(seen) {
		t.Errorf("got %d transactions, %d distinct; want each once", len(got), len(seen))
	}
}

func TestTransactionsNeverPartial(t *testing.T) {
	start := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
	f := &fake{txs: charges(300, start), noSkip: true}
	if got, err := serve(t, f).Transactions(context.Background(), time.Time{}); err == nil || account.ClassOf(err) != account.ClassPermanent {
		t.Errorf("skip ignored: got %d, %v; want a permanent error", len(got), err)
	}
	c := serveCfg(t, &fake{txs: charges(300, start)}, account.Config{MaxPages: 2})
	if got, err := c.Transactions(context.Background(), time.Time{}); err == nil || !strings.Contains(err.Error(), "more than 2 pages") {
		t.Errorf("past MaxPages: got %d, %v; want an error", len(got), err)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name       string
		fail       func(w http.ResponseWriter, r *http.Request) bool
		class      account.Class
		status     int
		retryAfter time.Duration
	}{
		{"429 with seconds", answer(429, "7", `{"success":false,"message":"Too Many Requests","error":429,"data":null}`), account.ClassThrottled, 429, 7 * time.Second},
		{"503 with a date", answer(503, "Thu, 05 Mar 2026 12:00:30 GMT", ``), account.ClassRetryable, 503, 30 * time.Second},
		{"500", answer(500, "", `<html>oops</html>`), account.ClassRetryable, 500, 0},
		{"403", answer(403, "", `{"success":false,"message":"Forbidden","error":130,"data":null}`), account.ClassPermanent, 403, 0},
		{"404", answer(404, "", `{"success":false,"message":"Not Found","error":120,"data":null}`), account.ClassPermanent, 404, 0},
		{"success false with 200", answer(200, "", `{"success":false,"message":"Query error","error":190,"data":null}`), account.ClassPermanent, 200, 0},
		{"200 not JSON", answer(200, "", `<html>proxy</html>`), account.ClassPermanent, 200, 0},
		{"200 without data", answer(200, "", `{"success":true}`), account.ClassPermanent, 200, 0},
		{"cut body", func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`{"data":`))
			return true
		}, account.ClassRetryable, 200, 0},
	}
	for _, tt := range tests {
		f := &fake{credit: 1, fail: tt.fail}
		now := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
		c := serveCfg(t, f, account.Config{Now: func() time.Time { return now }})
		_, err := c.Wallet(context.Background())
		var e *account.Error
		if !errors.As(err, &e) || e.Class != tt.class || e.Status != tt.status || e.RetryAfter != tt.retryAfter {
			t.Errorf("%s: got %#v, want class %s, status %d, retry after %s", tt.name, err, tt.class, tt.status, tt.retryAfter)
			continue
		}
		if e.Retryable() != (tt.class != account.ClassPermanent) {
			t.Errorf("%s: Retryable() = %v", tt.name, e.Retryable())
		}
	}
}

func TestNoAnswerIsRetryable(t *testing.T) {
	c, err := account.New(account.Config{BaseURL: mustURL(t, "http://127.0.0.1:1"), Email: email, APIKey: apiKey, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wallet(context.Background()); account.ClassOf(err) != account.ClassRetryable {
		t.Errorf("got %v, want a retryable error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := serve(t, &fake{}).Wallet(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v, want context.Canceled in the chain", err)
	}
}

// TestSecretsNeverInErrors: a server echoing the credentials in its
// message, or wrong credentials, never get the key or the e-mail into an
// error.
func TestSecretsNeverInErrors(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request) bool {
		writeJSON(w, 401, map[string]any{"success": false, "error": 140,
			"message": "bad credentials " + r.Header.Get("Authorization") + " for " + email + " key " + apiKey})
		return true
	}
	c := serve(t, &fake{fail: echo})
	_, err := c.Wallet(context.Background())
	if err == nil || account.ClassOf(err) != account.ClassPermanent {
		t.Fatalf("got %v, want a permanent error", err)
	}
	for _, secret := range []string{apiKey, basicToken(), email} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error %q holds a secret", err)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  account.Config
	}{
		{"no URL", account.Config{Email: email, APIKey: apiKey}},
		{"relative URL", account.Config{BaseURL: mustURL(t, "/wallet"), Email: email, APIKey: apiKey}},
		{"credentials in the URL", account.Config{BaseURL: mustURL(t, "https://u:p@oauth.openapi.com"), Email: email, APIKey: apiKey}},
		{"no key", account.Config{BaseURL: mustURL(t, account.ProductionURL), Email: email}},
	}
	for _, tt := range tests {
		if _, err := account.New(tt.cfg); err == nil {
			t.Errorf("%s: got nil, want an error", tt.name)
		} else if strings.Contains(err.Error(), "p@") {
			t.Errorf("%s: the error %q echoes the URL's credentials", tt.name, err)
		}
	}
}

func TestRequestID(t *testing.T) {
	tests := []struct{ desc, want string }{
		{"API usage - visengine2.altravia.com 5f2829ce065afc21cc60ad0e", "5f2829ce065afc21cc60ad0e"},
		{"API usage - visengine2.altravia.com (5F2829CE065AFC21CC60AD0E)", "5f2829ce065afc21cc60ad0e"},
		{"API usage - company.openapi.com", ""},
		{"Wallet recharge", ""},
		{"id 5f2829ce065afc21cc60ad0e1", ""}, // 25 digits: not an id
	}
	for _, tt := range tests {
		if got := (account.Transaction{Description: tt.desc}).RequestID(); got != tt.want {
			t.Errorf("RequestID(%q) = %q, want %q", tt.desc, got, tt.want)
		}
	}
}

func answer(status int, retryAfter, body string) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
		return true
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
