package sim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestLateCommit: the POST creates and charges the request and loses its
// answer; the request stays out of sight until the delay is over, on the
// injected clock (10 minutes here, without waiting for them).
func TestLateCommit(t *testing.T) {
	const delay = 10 * time.Minute
	c := newClock()
	rc, cbURL := startReceiver(t, 0)
	h := newHarness(t, sim.Config{Now: c.Now, Step: time.Hour,
		Faults: sim.Faults{LateCommit: sim.LateCommit{Delay: delay, Next: 1}}})
	cb := map[string]any{"callback_data": map[string]any{"url": cbURL, "method": "JSON", "data": map[string]string{"ref": "late"}}}

	r := h.do(http.MethodPost, "/richiesta", iseeBody(cb))
	if r.status != http.StatusBadGateway || r.code() != 502 {
		t.Fatalf("POST: got %d/%d, want 502/502", r.status, r.code())
	}
	if got := h.sim.Wallet(); got != 988 {
		t.Errorf("wallet: got %v, want 988 (charged)", got)
	}
	if c := h.sim.Counters(); c["created"] != 1 || c["charged"] != 1 {
		t.Errorf("counters: got %v, want 1 created and charged", c)
	}
	if r := h.do(http.MethodGet, "/richiesta", nil); r.status != http.StatusNotFound || r.code() != 203 {
		t.Errorf("GET /richiesta before the delay: got %d/%d, want 404/203", r.status, r.code())
	}

	// A request sent normally meanwhile is seen at once, and its callback,
	// due before the late one's, arrives while the late one's waits.
	normal := h.create(iseeBody(map[string]any{"callback_data": map[string]any{"url": cbURL, "method": "JSON", "data": map[string]string{"ref": "normal"}}}))
	eventually(t, "the normal request's callback", func() bool { return len(rc.received()) > 0 })
	for _, got := range rc.received() {
		if strings.Contains(string(got.body), `"late"`) {
			t.Errorf("got a callback of the late request before the delay: %s", got.body)
		}
	}
	list := decode[[]richiesta](t, h.ok(http.MethodGet, "/richiesta", nil))
	if len(list) != 1 || list[0].ID != normal.ID {
		t.Errorf("GET /richiesta before the delay: got %+v, want only the normal request", list)
	}

	c.Advance(delay - time.Second)
	if n := len(decode[[]richiesta](t, h.ok(http.MethodGet, "/richiesta", nil))); n != 1 {
		t.Errorf("a second before the delay: got %d requests, want 1", n)
	}
	c.Advance(time.Second)
	list = decode[[]richiesta](t, h.ok(http.MethodGet, "/richiesta", nil))
	if len(list) != 2 {
		t.Fatalf("after the delay: got %d requests, want 2", len(list))
	}
	late := list[0].ID
	if late == normal.ID {
		late = list[1].ID
	}
	if got := h.get(late); got.Stato != "In erogazione" || got.TimestampFirst != newClock().Now().Unix() {
		t.Errorf("GET /richiesta/{id} after the delay: got %+v, want In erogazione, created at the POST", got)
	}
	eventually(t, "the late request's callback", func() bool {
		for _, got := range rc.received() {
			if strings.Contains(string(got.body), `"late"`) {
				return true
			}
		}
		return false
	})

	// Seen from before the delay, every call by id answers "no such request".
	c.Advance(-time.Second)
	for _, tt := range []struct {
		method, path string
		status, code int
	}{
		{"GET", "/richiesta/" + late, 404, 202},
		{"GET", "/documento/" + late, 404, 244},
		{"PUT", "/richiesta/" + late, 404, 228},
		{"DELETE", "/richiesta/" + late, 404, 228},
	} {
		if r := h.do(tt.method, tt.path, map[string]any{}); r.status != tt.status || r.code() != tt.code {
			t.Errorf("%s %s before the delay: got %d/%d, want %d/%d", tt.method, tt.path, r.status, r.code(), tt.status, tt.code)
		}
	}
}

func TestLateCommitHang(t *testing.T) {
	h := newHarness(t, sim.Config{Faults: sim.Faults{LateCommit: sim.LateCommit{Mode: sim.ModeHang, Next: 1}}})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	body, _ := json.Marshal(iseeBody(nil))
	req, _ := http.NewRequest(http.MethodPost, h.url+"/richiesta", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	if _, err := client.Do(req); err == nil || !isTimeout(err) {
		t.Fatalf("hung POST: got %v, want a client timeout", err)
	}
	if c := h.sim.Counters(); c["created"] != 1 || c["charged"] != 1 {
		t.Errorf("counters: got %v, want 1 created and charged", c)
	}
	if r := h.do(http.MethodGet, "/richiesta", nil); r.status != http.StatusNotFound {
		t.Errorf("GET /richiesta within the default delay: got %d, want 404", r.status)
	}
	if got := h.sim.Faults().LateCommit; got.Delay != sim.DefaultLateDelay || got.Next != 0 || got.Mode != sim.ModeHang {
		t.Errorf("faults after firing: got %+v, want the default delay and nothing left", got)
	}
}
