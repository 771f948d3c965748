package sim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

const token = "test-token"

// harness is a simulator served over real HTTP.
type harness struct {
	t      *testing.T
	sim    *sim.Server
	url    string
	client *http.Client
}

// newHarness starts a simulator; an empty cfg.Token becomes token. Close
// order: the simulator first (it releases hung handlers), then the server.
func newHarness(t *testing.T, cfg sim.Config) *harness {
	t.Helper()
	if cfg.Token == "" {
		cfg.Token = token
	}
	s := sim.New(cfg)
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close)
	return &harness{t: t, sim: s, url: ts.URL, client: ts.Client()}
}

// envelope is the API's answer; Data stays raw.
type envelope struct {
	Data    json.RawMessage `json:"data"`
	Success bool            `json:"success"`
	Message string          `json:"message"`
	Error   *int            `json:"error"`
}

// reply is one answer: status, envelope, raw body and headers.
type reply struct {
	status int
	env    envelope
	raw    []byte
	header http.Header
}

func (r reply) code() int {
	if r.env.Error == nil {
		return 0
	}
	return *r.env.Error
}

// do calls the API with the token; body is JSON-encoded unless it is a string.
func (h *harness) do(method, path string, body any) reply {
	h.t.Helper()
	return h.doAuth(method, path, body, "Bearer "+token)
}

func (h *harness) doAuth(method, path string, body any, auth string) reply {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatalf("new request: %v", err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	r := reply{status: resp.StatusCode, raw: raw, header: resp.Header}
	if strings.HasPrefix(path, "/_sim/") {
		return r
	}
	if got, want := keysOf(h.t, raw), []string{"data", "error", "message", "success"}; !slices.Equal(got, want) {
		h.t.Fatalf("%s %s: envelope keys %v, want %v (body %s)", method, path, got, want, raw)
	}
	if err := json.Unmarshal(raw, &r.env); err != nil {
		h.t.Fatalf("%s %s: decode envelope: %v", method, path, err)
	}
	return r
}

// ok calls the API and requires a 200 success envelope; it returns data.
func (h *harness) ok(method, path string, body any) json.RawMessage {
	h.t.Helper()
	r := h.do(method, path, body)
	if r.status != http.StatusOK || !r.env.Success || r.env.Error != nil {
		h.t.Fatalf("%s %s: got %d %s, want 200 success", method, path, r.status, r.raw)
	}
	return r.env.Data
}

// richiesta is the part of a request the tests look at.
type richiesta struct {
	ID             string           `json:"_id"`
	State          int              `json:"state"`
	Stato          string           `json:"stato_richiesta"`
	Stati          map[string]int64 `json:"timestamp_stati"`
	Esito          map[string]any   `json:"esito"`
	Motivo         string           `json:"motivo_annullamento"`
	Allegati       []string         `json:"allegati"`
	PrezzoVisura   float64          `json:"prezzo_visura"`
	Opzioni        []map[string]any `json:"opzioni"`
	CallbackData   json.RawMessage  `json:"callback_data"`
	TimestampLast  int64            `json:"timestamp_last_update"`
	TimestampFirst int64            `json:"timestamp_creation"`
}

func (h *harness) create(body any) richiesta {
	h.t.Helper()
	return decode[richiesta](h.t, h.ok(http.MethodPost, "/richiesta", body))
}

// createDirect creates a request through ServeHTTP without the network: fast
// enough for thousands.
func (h *harness) createDirect(body any) richiesta {
	h.t.Helper()
	j, _ := json.Marshal(body)
	req := httptest.NewRequest(http.MethodPost, "/richiesta", bytes.NewReader(j))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.sim.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		h.t.Fatalf("POST /richiesta: got %d %s", rec.Code, rec.Body)
	}
	return decode[richiesta](h.t, decode[envelope](h.t, rec.Body.Bytes()).Data)
}

func (h *harness) get(id string) richiesta {
	h.t.Helper()
	return decode[richiesta](h.t, h.ok(http.MethodGet, "/richiesta/"+id, nil))
}

func decode[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// keysOf returns the sorted keys of a JSON object.
func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	m := decode[map[string]json.RawMessage](t, raw)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s ...string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// iseeBody is a complete ISEE submission (without the optional mandate).
func iseeBody(extra map[string]any) map[string]any {
	b := map[string]any{
		"hash_visura": sim.HashISEE,
		"json_visura": map[string]string{
			"$0": "Mario", "$1": "Rossi", "$2": "mario.rossi@example.com", "$3": "3331234567",
			"$4": "RSSMRA80A01H501U", "$5": "ci.pdf|data:application/pdf;base64,JVBERi0xLjQK",
			"$6": "cf.png|data:image/png;base64,iVBORw0KGgo=",
		},
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
