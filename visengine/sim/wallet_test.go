package sim_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

const (
	accountEmail = "ops@example.test"
	accountKey   = "k3y-s3cr3t-0123456789"
)

// unauthorized is the account API's published answer to wrong credentials.
const unauthorized = `{"success":false,"message":"Unauthorized","error":140,"data":null}`

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// newAccountHarness starts a simulator with the account API's credentials
// set (unless cfg sets its own).
func newAccountHarness(t *testing.T, cfg sim.Config) *harness {
	t.Helper()
	if cfg.AccountEmail == "" && cfg.AccountAPIKey == "" {
		cfg.AccountEmail, cfg.AccountAPIKey = accountEmail, accountKey
	}
	return newHarness(t, cfg)
}

// account calls the account API with auth; a 200 answer must be {"data": …}
// alone, any other the error envelope.
func (h *harness) account(path, auth string) reply {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.url+path, nil)
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("GET %s: read: %v", path, err)
	}
	want := []string{"data"}
	if resp.StatusCode != http.StatusOK {
		want = []string{"data", "error", "message", "success"}
	}
	if got := keysOf(h.t, raw); !slices.Equal(got, want) {
		h.t.Fatalf("GET %s: got %d with keys %v, want %v (body %s)", path, resp.StatusCode, got, want, raw)
	}
	r := reply{status: resp.StatusCode, raw: raw, header: resp.Header}
	if err := json.Unmarshal(raw, &r.env); err != nil {
		h.t.Fatalf("GET %s: decode: %v", path, err)
	}
	return r
}

// accountOK calls the account API with the right credentials and requires a 200.
func (h *harness) accountOK(path string) reply {
	h.t.Helper()
	r := h.account(path, basic(accountEmail, accountKey))
	if r.status != http.StatusOK {
		h.t.Fatalf("GET %s: got %d %s, want 200", path, r.status, r.raw)
	}
	return r
}

func TestAccountAuth(t *testing.T) {
	set := sim.Config{AccountEmail: accountEmail, AccountAPIKey: accountKey}
	tests := []struct {
		name   string
		cfg    sim.Config
		path   string
		auth   string
		status int
	}{
		{"wallet", set, "/wallet", basic(accountEmail, accountKey), 200},
		{"transactions", set, "/wallet/transactions", basic(accountEmail, accountKey), 200},
		{"no credentials", set, "/wallet", "", 401},
		{"wrong key", set, "/wallet", basic(accountEmail, "nope"), 401},
		{"wrong e-mail", set, "/wallet/transactions", basic("other@example.test", accountKey), 401},
		{"the bearer token", set, "/wallet/transactions", "Bearer " + token, 401},
		{"not configured: empty credentials", sim.Config{}, "/wallet", basic("", ""), 401},
		{"not configured: any credentials", sim.Config{}, "/wallet", basic(accountEmail, accountKey), 401},
		{"only the e-mail configured", sim.Config{AccountEmail: accountEmail}, "/wallet", basic(accountEmail, ""), 401},
	}
	for _, tt := range tests {
		h := newHarness(t, tt.cfg)
		r := h.account(tt.path, tt.auth)
		if r.status != tt.status || tt.status == 401 && string(r.raw) != unauthorized {
			t.Errorf("%s: got %d %s, want %d", tt.name, r.status, r.raw, tt.status)
		}
	}
	// Visengine keeps its bearer token: Basic credentials do not open it.
	h := newAccountHarness(t, sim.Config{})
	if r := h.doAuth(http.MethodGet, "/visure", nil, basic(accountEmail, accountKey)); r.status != 401 || r.code() != 401 {
		t.Errorf("GET /visure with Basic credentials: got %d/%d, want 401/401", r.status, r.code())
	}
}

// TestWalletAnswers pins both answers' shapes on a fake clock: credit as
// GET /_sim/wallet shows it, updatedAt the last movement, amounts in euro.
func TestWalletAnswers(t *testing.T) {
	c := newClock() // 2025-03-14 09:00 UTC
	h := newAccountHarness(t, sim.Config{Now: c.Now, Step: time.Hour})
	if got, want := string(h.accountOK("/wallet").raw), `{"data":{"credit":1000,"createdAt":"2025-03-14T09:00:00+00:00","updatedAt":"2025-03-14T09:00:00+00:00"}}`; got != want {
		t.Errorf("GET /wallet at start: got %s, want %s", got, want)
	}
	if got := string(h.accountOK("/wallet/transactions").raw); got != `{"data":[]}` {
		t.Errorf("GET /wallet/transactions at start: got %s, want {\"data\":[]}", got)
	}

	c.Advance(time.Hour)
	req := h.create(iseeBody(map[string]any{"opzioni": map[string]bool{"opzione_0": true}}))
	c.Advance(time.Minute)
	h.do(http.MethodPut, "/_sim/wallet", map[string]float64{"euro": 984}) // no change: nothing recorded
	c.Advance(time.Minute)
	h.do(http.MethodPut, "/_sim/wallet", map[string]float64{"euro": 1000.5})

	txs := h.sim.Transactions()
	if len(txs) != 2 {
		t.Fatalf("Transactions: got %+v, want a recharge and a charge", txs)
	}
	want := fmt.Sprintf(`{"data":[`+
		`{"id":%q,"amount":16.5,"createdAt":"2025-03-14T10:02:00+00:00","description":"Wallet recharge"},`+
		`{"id":%q,"amount":-16,"createdAt":"2025-03-14T10:00:00+00:00","description":"API usage - visengine2.altravia.com %s"}]}`,
		txs[0].ID, txs[1].ID, req.ID)
	if got := string(h.accountOK("/wallet/transactions").raw); got != want {
		t.Errorf("GET /wallet/transactions:\ngot  %s\nwant %s", got, want)
	}
	want = `{"data":{"credit":1000.5,"createdAt":"2025-03-14T09:00:00+00:00","updatedAt":"2025-03-14T10:02:00+00:00"}}`
	if got := string(h.accountOK("/wallet").raw); got != want {
		t.Errorf("GET /wallet:\ngot  %s\nwant %s", got, want)
	}
	if r := h.do(http.MethodGet, "/_sim/wallet", nil); string(r.raw) != `{"euro":1000.5}` {
		t.Errorf("GET /_sim/wallet: got %s, want the same credit", r.raw)
	}
	idPattern := regexp.MustCompile(`^txn_[0-9a-f]{24}$`)
	for _, tx := range txs {
		if !idPattern.MatchString(tx.ID) {
			t.Errorf("transaction id %q: want txn_ and 24 hex digits", tx.ID)
		}
	}
	if txs[0].ID == txs[1].ID {
		t.Errorf("transaction ids: got %q twice", txs[0].ID)
	}
}

// TestTransactionsPaging: skip and limit (default 100, at most 100; junk
// reads as the default) page the list newest first.
func TestTransactionsPaging(t *testing.T) {
	c := newClock()
	h := newAccountHarness(t, sim.Config{Now: c.Now, Step: time.Hour, Wallet: 1e6})
	var ids []string // request ids, oldest first
	for range 250 {
		ids = append(ids, h.createDirect(iseeBody(nil)).ID)
		c.Advance(time.Second)
	}
	all := h.sim.Transactions()
	if len(all) != 250 {
		t.Fatalf("Transactions: got %d, want 250", len(all))
	}
	for i, tx := range all {
		if want := ids[len(ids)-1-i]; tx.RequestID != want || tx.Amount != -1200 {
			t.Fatalf("Transactions()[%d]: got %+v, want a charge of 12 euro for %s (newest first)", i, tx, want)
		}
	}
	tests := []struct {
		query    string
		from, to int
	}{
		{"", 0, 100},
		{"?skip=0&limit=100", 0, 100},
		{"?skip=100&limit=100", 100, 200},
		{"?skip=200&limit=100", 200, 250},
		{"?skip=250&limit=100", 250, 250},
		{"?skip=5&limit=10", 5, 15},
		{"?limit=500", 0, 100},
		{"?limit=0", 0, 100},
		{"?skip=-3&limit=abc", 0, 100},
		{"?skip=9999999999999999999", 0, 100}, // not an int: the default
	}
	for _, tt := range tests {
		r := h.accountOK("/wallet/transactions" + tt.query)
		var page []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(r.env.Data, &page); err != nil {
			t.Fatalf("%s: decode %s: %v", tt.query, r.raw, err)
		}
		var got, want []string
		for _, p := range page {
			got = append(got, p.ID)
		}
		for _, tx := range all[tt.from:tt.to] {
			want = append(want, tx.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q: got %d transactions %v, want %d (%d to %d)", tt.query, len(got), got, len(want), tt.from, tt.to)
		}
	}
}

// TestAccountFaults: the account API's endpoints take the injected errors
// and throttling under their own keys and "*", after authentication.
func TestAccountFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults string // as PUT /_sim/faults takes them
		path   string
		want   []int // statuses of consecutive calls
		retry  string
	}{
		{"wallet 502", `{"errors":{"GET /wallet":{"next":1,"status":502}}}`, "/wallet", []int{502, 200}, ""},
		{"transactions 503", `{"errors":{"GET /wallet/transactions":{"next":2}}}`, "/wallet/transactions", []int{503, 503, 200}, ""},
		{"transactions throttled", `{"throttle":{"GET /wallet/transactions":{"next":1,"retry_after":4}}}`, "/wallet/transactions", []int{429, 200}, "4"},
		{"wallet throttled by the wildcard", `{"throttle":{"*":{"next":1,"retry_after":2}}}`, "/wallet", []int{429, 200}, "2"},
		{"another key leaves it alone", `{"errors":{"GET /wallet/transactions":{"next":1}}}`, "/wallet", []int{200}, ""},
	}
	for _, tt := range tests {
		h := newAccountHarness(t, sim.Config{})
		if r := h.do(http.MethodPut, "/_sim/faults", tt.faults); r.status != 200 {
			t.Fatalf("%s: PUT /_sim/faults: got %d %s", tt.name, r.status, r.raw)
		}
		for i, want := range tt.want {
			r := h.account(tt.path, basic(accountEmail, accountKey))
			if r.status != want || want != 200 && r.code() != want {
				t.Errorf("%s: call %d: got %d %s, want %d", tt.name, i, r.status, r.raw, want)
			}
			if want == 429 && r.header.Get("Retry-After") != tt.retry {
				t.Errorf("%s: Retry-After: got %q, want %q", tt.name, r.header.Get("Retry-After"), tt.retry)
			}
		}
	}
	// Authentication comes first: wrong credentials use up no fault.
	h := newAccountHarness(t, sim.Config{Faults: sim.Faults{Errors: map[string]sim.ErrorFault{"GET /wallet": {Next: 1}}}})
	if r := h.account("/wallet", basic(accountEmail, "nope")); r.status != 401 {
		t.Errorf("wrong key under a fault: got %d, want 401", r.status)
	}
	if got := h.sim.Faults().Errors["GET /wallet"].Next; got != 1 {
		t.Errorf("after a refused call: %d faults left, want 1", got)
	}
}

// TestAccountShapes: the PHP shape knobs write amounts as "11,70" and the
// list as an object keyed "0", "1", …; the padding goes first in data.
func TestAccountShapes(t *testing.T) {
	c := newClock()
	h := newAccountHarness(t, sim.Config{Now: c.Now, Step: time.Hour, Wallet: 1234.5, Faults: sim.Faults{
		PHPScalars:  map[string]sim.Knob{"GET /wallet": {Rate: 1}, "GET /wallet/transactions": {Rate: 1}},
		ObjectLists: map[string]sim.Knob{"GET /wallet/transactions": {Rate: 1}},
		Oversize:    map[string]sim.OversizeFault{"GET /wallet": {Pad: 8, Next: 1}},
	}})
	h.create(iseeBody(nil))
	want := `{"data":{"_padding":"AAAAAAAA","credit":"1.222,50","createdAt":"2025-03-14T09:00:00+00:00","updatedAt":"2025-03-14T09:00:00+00:00"}}`
	if got := string(h.accountOK("/wallet").raw); got != want {
		t.Errorf("GET /wallet:\ngot  %s\nwant %s", got, want)
	}
	txs := h.sim.Transactions()
	want = `{"data":{"0":{"id":"` + txs[0].ID + `","amount":"-12,00","createdAt":"2025-03-14T09:00:00+00:00","description":"` + txs[0].Description + `"}}}`
	if got := string(h.accountOK("/wallet/transactions").raw); got != want {
		t.Errorf("GET /wallet/transactions:\ngot  %s\nwant %s", got, want)
	}
}
