package sim_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

func TestListWithoutRequests(t *testing.T) {
	h := newHarness(t, sim.Config{})
	r := h.do(http.MethodGet, "/richiesta", nil)
	if r.status != http.StatusNotFound || r.code() != 203 || r.env.Message != "no request related to your account" {
		t.Fatalf("got %d/%d %q, want 404/203", r.status, r.code(), r.env.Message)
	}
	if string(r.env.Data) != "null" || r.env.Success {
		t.Errorf("got data %s success %v, want null false", r.env.Data, r.env.Success)
	}
}

// TestErrorTable covers every row of the reference's error table, plus the
// sim-chosen answers (DELETE, 401, 404, 405, malformed bodies).
func TestErrorTable(t *testing.T) {
	h := newHarness(t, sim.Config{Step: time.Hour})
	open := h.create(iseeBody(nil)).ID
	draft := h.create(map[string]any{"hash_visura": sim.HashISEE, "state": 0, "json_visura": map[string]string{"$0": "Mario"}}).ID
	closed := h.create(iseeBody(nil)).ID
	h.ok(http.MethodDelete, "/richiesta/"+closed, map[string]string{"motivo": "prova"})
	unknown := "0123456789abcdef01234567"

	tests := []struct {
		name       string
		method     string
		path       string
		body       any
		wantStatus int
		wantCode   int
		wantMsg    string // prefix
	}{
		{"visura wrong hash", "GET", "/visure/ffffffffffffffffffffffffffffffff", nil, 400, 200, "wrong hash_visura"},
		{"visura empty hash", "GET", "/visure/", nil, 400, 200, "wrong hash_visura"},
		{"post hash missing", "POST", "/richiesta", map[string]any{"json_visura": map[string]string{"$0": "x"}}, 428, 204, "hash_visura required"},
		{"post hash empty", "POST", "/richiesta", map[string]any{"hash_visura": ""}, 428, 204, "hash_visura required"},
		{"post unknown hash", "POST", "/richiesta", map[string]any{"hash_visura": "nope"}, 400, 200, "wrong hash_visura"},
		{"post bad email", "POST", "/richiesta", iseeBody(map[string]any{"email_target": "not-an-email"}), 400, 209, "email is considered invalid!"},
		{"post bad email before validazione", "POST", "/richiesta", map[string]any{"hash_visura": sim.HashISEE, "email_target": "x@"}, 400, 209, "email is considered invalid!"},
		{"post validazione fails", "POST", "/richiesta", map[string]any{"hash_visura": sim.HashISEE, "json_visura": map[string]string{"$0": "Mario", "$1": "Rossi"}}, 412, 250, "Insufficient data to validate the request: "},
		{"post blank counts as absent", "POST", "/richiesta", iseeBody(map[string]any{"json_visura": map[string]string{"$0": " ", "$1": "R", "$2": "a@b.it", "$3": "1", "$4": "X", "$5": "f", "$6": "g"}}), 412, 250, "Insufficient data"},
		{"post test validates too", "POST", "/richiesta", map[string]any{"hash_visura": sim.HashISEE, "test": true}, 412, 250, "Insufficient data"},
		{"post malformed json", "POST", "/richiesta", "{", 400, 400, "invalid JSON body"},
		{"post bad callback", "POST", "/richiesta", iseeBody(map[string]any{"callback_data": map[string]string{"url": "ftp://x"}}), 400, 400, "callback_data"},
		{"post bad callback method", "POST", "/richiesta", iseeBody(map[string]any{"callback_data": map[string]string{"url": "http://x.it/cb", "method": "GET"}}), 400, 400, "callback_data"},
		{"get malformed id", "GET", "/richiesta/xyz", nil, 400, 201, "Invalid id"},
		{"get 23 hex", "GET", "/richiesta/" + unknown[:23], nil, 400, 201, "Invalid id"},
		{"get empty id", "GET", "/richiesta/", nil, 400, 201, "Invalid id"},
		{"get unknown id", "GET", "/richiesta/" + unknown, nil, 404, 202, "no request matches this id: " + unknown},
		{"put closed", "PUT", "/richiesta/" + open, map[string]any{"state": 1}, 400, 239, "the request has already been closed"},
		{"put cancelled", "PUT", "/richiesta/" + closed, map[string]any{"state": 1}, 400, 239, "the request has already been closed"},
		{"put unknown", "PUT", "/richiesta/" + unknown, map[string]any{"state": 1}, 404, 228, "no requests matches this id: " + unknown},
		{"put malformed id", "PUT", "/richiesta/xyz", map[string]any{"state": 1}, 404, 228, "no requests matches this id: xyz"},
		{"put incomplete draft", "PUT", "/richiesta/" + draft, map[string]any{"state": 1}, 412, 229, "error in the input data: "},
		{"put bad email", "PUT", "/richiesta/" + draft, map[string]any{"email_target": "nope"}, 412, 229, "error in the input data: email_target"},
		{"put no id", "PUT", "/richiesta", map[string]any{"state": 1}, 428, 226, "id required"},
		{"put empty id", "PUT", "/richiesta/", map[string]any{"state": 1}, 428, 226, "id required"},
		{"document no id", "GET", "/documento", nil, 428, 242, "id required"},
		{"document empty id", "GET", "/documento/", nil, 428, 242, "id required"},
		{"document malformed id", "GET", "/documento/xyz", nil, 400, 243, "Invalid id"},
		{"document unknown", "GET", "/documento/" + unknown, nil, 404, 244, "no requests matches this id: " + unknown},
		{"document not ready", "GET", "/documento/" + open, nil, 422, 247, "document not yet available"},
		{"document of a draft", "GET", "/documento/" + draft, nil, 422, 247, "document not yet available"},
		{"document of a cancelled", "GET", "/documento/" + closed, nil, 422, 247, "document not yet available"},
		{"delete no id", "DELETE", "/richiesta", nil, 428, 226, "id required"},
		{"delete unknown", "DELETE", "/richiesta/" + unknown, nil, 404, 228, "no requests matches this id"},
		{"delete final", "DELETE", "/richiesta/" + closed, nil, 400, 239, "the request has already been closed"},
		{"search", "POST", "/richiesta/" + open, map[string]any{"json_visura": map[string]string{"$0": "x"}}, 409, 222, "this request does not allow"},
		{"search draft", "POST", "/richiesta/" + draft, nil, 404, 221, "the request is in state 0"},
		{"search malformed", "POST", "/richiesta/xyz", nil, 400, 219, "Invalid id"},
		{"choose", "PUT", "/richiesta/" + open + "/ricerche", map[string]any{"id_ricerca": open + "_0", "indice": 1}, 409, 230, "the request does not produce results"},
		{"unknown path", "GET", "/nope", nil, 404, 404, "not found"},
		{"wrong method", "PATCH", "/richiesta/" + open, nil, 405, 405, "method not allowed"},
		{"wrong method catalog", "POST", "/visure", nil, 405, 405, "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.sim.Wallet()
			r := h.do(tt.method, tt.path, tt.body)
			if r.status != tt.wantStatus || r.code() != tt.wantCode || !strings.HasPrefix(r.env.Message, tt.wantMsg) {
				t.Errorf("got %d/%d %q, want %d/%d %q…", r.status, r.code(), r.env.Message, tt.wantStatus, tt.wantCode, tt.wantMsg)
			}
			if r.env.Success || string(r.env.Data) != "null" {
				t.Errorf("got success %v data %s, want false null", r.env.Success, r.env.Data)
			}
			if got := h.sim.Wallet(); got != before {
				t.Errorf("wallet: got %v, want %v (errors never charge)", got, before)
			}
		})
	}
}

func TestInsufficientCredit(t *testing.T) {
	h := newHarness(t, sim.Config{Step: time.Hour})
	h.sim.SetWallet(15.5)
	h.create(iseeBody(nil)) // 12 €: 3.5 left
	tests := []struct {
		name string
		body map[string]any
	}{
		{"submit", iseeBody(nil)},
		{"test", iseeBody(map[string]any{"test": true})},
		{"option pushes it over", map[string]any{"hash_visura": sim.HashVisuraCameraleCapitale, "json_visura": map[string]string{"$0": "1", "$1": "RM"}, "test": true, "opzioni": map[string]bool{"opzione_0": true}}},
	}
	for _, tt := range tests {
		r := h.do(http.MethodPost, "/richiesta", tt.body)
		if r.status != http.StatusPaymentRequired || r.code() != 211 || r.env.Message != "Insufficient Credit in Wallet: 3.5" {
			t.Errorf("%s: got %d/%d %q, want 402/211 %q", tt.name, r.status, r.code(), r.env.Message, "Insufficient Credit in Wallet: 3.5")
		}
	}
	// The 4.90 € camerale visura still fits? No: 3.50 < 4.90.
	h.sim.SetWallet(4.9)
	h.create(map[string]any{"hash_visura": sim.HashVisuraCameraleCapitale, "json_visura": map[string]string{"$0": "1378273", "$1": "RM"}})
	if got := h.sim.Wallet(); got != 0 {
		t.Errorf("wallet after spending all: got %v, want 0", got)
	}
	r := h.do(http.MethodPost, "/richiesta", map[string]any{"hash_visura": sim.HashVisuraCameraleCapitale, "json_visura": map[string]string{"$0": "1", "$1": "RM"}})
	if r.status != http.StatusPaymentRequired || r.env.Message != "Insufficient Credit in Wallet: 0" {
		t.Errorf("empty wallet: got %d %q, want 402 %q", r.status, r.env.Message, "Insufficient Credit in Wallet: 0")
	}
	if c := h.sim.Counters(); c["created"] != 2 || c["charged"] != 2 {
		t.Errorf("counters: got created %d charged %d, want 2 2", c["created"], c["charged"])
	}
}

func TestUnauthorized(t *testing.T) {
	h := newHarness(t, sim.Config{})
	for _, auth := range []string{"", "Bearer wrong", "Basic " + token, "Bearer"} {
		r := h.doAuth(http.MethodGet, "/visure", nil, auth)
		if r.status != http.StatusUnauthorized || r.code() != 401 || r.env.Success {
			t.Errorf("auth %q: got %d/%d, want 401/401", auth, r.status, r.code())
		}
	}
	if r := h.doAuth(http.MethodGet, "/visure", nil, "bearer "+token); r.status != http.StatusOK {
		t.Errorf("lower-case scheme: got %d, want 200", r.status)
	}
}
