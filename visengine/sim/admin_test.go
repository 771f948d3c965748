package sim_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/iseed-dev/iseed/visengine/sim"
)

func TestCounters(t *testing.T) {
	h := newHarness(t, sim.Config{})
	id := h.create(iseeBody(nil)).ID
	h.get(id)
	h.get(id)
	h.do(http.MethodGet, "/visure", nil)
	h.do(http.MethodGet, "/visure/"+sim.HashISEE, nil)
	h.do(http.MethodGet, "/richiesta", nil)
	h.do(http.MethodPut, "/richiesta/"+id, map[string]int{"state": 1})
	h.do(http.MethodDelete, "/richiesta/"+id, nil)
	h.do(http.MethodGet, "/documento/"+id, nil)
	h.doAuth(http.MethodGet, "/visure", nil, "") // counted before authentication
	h.doAuth(http.MethodGet, "/wallet", nil, "Bearer "+token)
	h.doAuth(http.MethodGet, "/wallet/transactions", nil, "")
	want := map[string]int{
		"POST /richiesta": 1, "GET /richiesta/{id}": 2, "GET /visure": 2, "GET /visure/{hash}": 1,
		"GET /richiesta": 1, "PUT /richiesta/{id}": 1, "DELETE /richiesta/{id}": 1, "GET /documento/{id}": 1,
		"POST /richiesta/{id}": 0, "PUT /richiesta/{id}/ricerche": 0, "GET /wallet": 1, "GET /wallet/transactions": 1,
		"created": 1, "charged": 1, "callbacks": 0, "callback_failures": 0,
	}
	if got := h.sim.Counters(); !equalCounts(got, want) {
		t.Errorf("Counters: got %v, want %v", got, want)
	}
	r := h.do(http.MethodGet, "/_sim/counters", nil)
	if got := decode[map[string]int](t, r.raw); r.status != 200 || !equalCounts(got, want) {
		t.Errorf("GET /_sim/counters: got %d %v, want %v", r.status, got, want)
	}
	r = h.do(http.MethodPost, "/_sim/reset", nil)
	for k, v := range decode[map[string]int](t, r.raw) {
		if v != 0 {
			t.Errorf("after reset: %s = %d, want 0", k, v)
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestAdminFaults(t *testing.T) {
	h := newHarness(t, sim.Config{})
	tests := []struct {
		name       string
		method     string
		body       string
		wantStatus int
	}{
		{"set", "PUT", `{"latency":"1ms","errors":{"GET /visure":{"next":2,"status":502}},"throttle":{"*":{"rate":0.1,"retry_after":2}},"commit_then_fail":{"mode":"hang","next":1}}`, 200},
		{"bad status", "PUT", `{"errors":{"GET /visure":{"next":1,"status":404}}}`, 400},
		{"bad key", "PUT", `{"errors":{"GET /nope":{"next":1}}}`, 400},
		{"bad rate", "PUT", `{"throttle":{"*":{"rate":2}}}`, 400},
		{"bad mode", "PUT", `{"commit_then_fail":{"mode":"explode","next":1}}`, 400},
		{"bad latency", "PUT", `{"latency":"soon"}`, 400},
		{"bad json", "PUT", `{`, 400},
	}
	for _, tt := range tests {
		if r := h.do(tt.method, "/_sim/faults", tt.body); r.status != tt.wantStatus {
			t.Errorf("%s: got %d %s, want %d", tt.name, r.status, r.raw, tt.wantStatus)
		}
	}
	if r := h.do(http.MethodGet, "/visure", nil); r.status != 502 {
		t.Fatalf("after PUT /_sim/faults: got %d, want 502", r.status)
	}
	r := h.do(http.MethodGet, "/_sim/faults", nil)
	got := decode[sim.Faults](t, r.raw)
	if got.Errors["GET /visure"].Next != 1 || got.Errors["GET /visure"].Status != 502 || got.Throttle["*"].RetryAfter != 2 ||
		got.CommitThenFail.Mode != sim.ModeHang || got.CommitThenFail.Next != 1 || got.Latency.Milliseconds() != 1 {
		t.Errorf("GET /_sim/faults: got %s, want the faults set with one error left", r.raw)
	}
	h.do(http.MethodDelete, "/_sim/faults", nil)
	if got := h.sim.Faults(); got.Errors != nil || got.Latency != 0 {
		t.Errorf("after DELETE: got %+v, want none", got)
	}
}

func TestAdminWallet(t *testing.T) {
	h := newHarness(t, sim.Config{Wallet: 50})
	if r := h.do(http.MethodGet, "/_sim/wallet", nil); string(r.raw) != `{"euro":50}` {
		t.Errorf("GET /_sim/wallet: got %s", r.raw)
	}
	if r := h.do(http.MethodPut, "/_sim/wallet", map[string]float64{"euro": 182.03}); r.status != 200 || h.sim.Wallet() != 182.03 {
		t.Errorf("PUT /_sim/wallet: got %d, wallet %v", r.status, h.sim.Wallet())
	}
	for _, bad := range []string{`{"euro":-1}`, `{`, `null`} {
		if r := h.do(http.MethodPut, "/_sim/wallet", bad); r.status != 400 {
			t.Errorf("PUT /_sim/wallet %s: got %d, want 400", bad, r.status)
		}
	}
	h.sim.SetWallet(11)
	r := h.do(http.MethodPost, "/richiesta", iseeBody(nil))
	if r.status != 402 || r.env.Message != "Insufficient Credit in Wallet: 11" {
		t.Errorf("short wallet: got %d %q", r.status, r.env.Message)
	}
	if r := h.do(http.MethodGet, "/_sim/nope", nil); r.status != 404 {
		t.Errorf("unknown admin path: got %d, want 404", r.status)
	}
	var f sim.Faults
	if err := json.Unmarshal([]byte(`{"latency":"2s"}`), &f); err != nil || f.Latency.Seconds() != 2 {
		t.Errorf("Faults JSON: got %v %v", f, err)
	}
}
