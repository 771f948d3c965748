package sim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// receiver records the callbacks it gets; it fails the first failFirst.
type receiver struct {
	mu        sync.Mutex
	failFirst int
	calls     int
	got       []received
}

type received struct {
	contentType string
	body        []byte
	form        map[string][]string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.calls++
	if rc.calls <= rc.failFirst {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	rv := received{contentType: r.Header.Get("Content-Type"), body: body}
	if rv.contentType == "application/x-www-form-urlencoded" {
		r.Body = io.NopCloser(bytesReader(body))
		if err := r.ParseForm(); err == nil {
			rv.form = r.PostForm
		}
	}
	rc.got = append(rc.got, rv)
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func startReceiver(t *testing.T, failFirst int) (*receiver, string) {
	rc := &receiver{failFirst: failFirst}
	ts := httptest.NewServer(rc)
	t.Cleanup(ts.Close)
	return rc, ts.URL
}

// callbackRichiesta is the part of a callback's request the tests check.
type callbackRichiesta struct {
	ID           string `json:"_id"`
	Stato        string `json:"stato_richiesta"`
	CallbackData struct {
		Data map[string]string `json:"data"`
	} `json:"callback_data"`
}

func TestCallbacks(t *testing.T) {
	tests := []struct {
		name      string
		callback  map[string]any
		failFirst int
		decode    func(t *testing.T, rv received) callbackRichiesta
	}{
		{
			name:     "JSON with field",
			callback: map[string]any{"method": "JSON", "field": "payload", "data": map[string]string{"ref": "r-7"}},
			decode: func(t *testing.T, rv received) callbackRichiesta {
				if rv.contentType != "application/json" {
					t.Errorf("content type: got %q, want application/json", rv.contentType)
				}
				if got := keysOf(t, rv.body); !slices.Equal(got, []string{"payload"}) {
					t.Errorf("body keys: got %v, want [payload]", got)
				}
				return decode[callbackRichiesta](t, decode[map[string]json.RawMessage](t, rv.body)["payload"])
			},
		},
		{
			name:      "POST form, default field, retried",
			callback:  map[string]any{"data": map[string]string{"ref": "r-8"}},
			failFirst: 2,
			decode: func(t *testing.T, rv received) callbackRichiesta {
				if len(rv.form["data"]) != 1 {
					t.Fatalf("form: got %v, want one data field", rv.form)
				}
				return decode[callbackRichiesta](t, []byte(rv.form["data"][0]))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, url := startReceiver(t, tt.failFirst)
			h := newHarness(t, sim.Config{Step: 20 * time.Millisecond})
			tt.callback["url"] = url + "/cb"
			id := h.create(iseeBody(map[string]any{"callback_data": tt.callback})).ID
			eventually(t, "3 callbacks", func() bool { return len(rc.received()) >= 3 })
			var states []string
			for _, rv := range rc.received() {
				r := tt.decode(t, rv)
				if r.ID != id || r.CallbackData.Data["ref"] == "" {
					t.Errorf("callback: got %+v, want id %s with callback_data.data", r, id)
				}
				states = append(states, r.Stato)
			}
			if want := []string{"In erogazione", "Dati disponibili", "Visura evasa"}; !slices.Equal(sortedStates(states), sortedStates(want)) {
				t.Errorf("states: got %v, want %v", states, want)
			}
			eventually(t, "the callbacks counter", func() bool { return h.sim.Counters()["callbacks"] == 3 })
			if c := h.sim.Counters(); c["callback_failures"] != tt.failFirst {
				t.Errorf("callback_failures: got %d, want %d", c["callback_failures"], tt.failFirst)
			}
		})
	}
}

func sortedStates(s []string) []string { return sorted(s...) }

func TestCallbackOnCancel(t *testing.T) {
	rc, url := startReceiver(t, 0)
	h := newHarness(t, sim.Config{Step: time.Hour})
	id := h.create(iseeBody(map[string]any{"callback_data": map[string]any{"url": url, "method": "JSON"}})).ID
	eventually(t, "the In erogazione callback", func() bool { return len(rc.received()) == 1 })
	h.ok(http.MethodDelete, "/richiesta/"+id, map[string]string{"motivo": "errore"})
	eventually(t, "the Annullata callback", func() bool { return len(rc.received()) == 2 })
	r := decode[map[string]json.RawMessage](t, rc.received()[1].body)["data"]
	if got := decode[richiesta](t, r); got.Stato != "Annullata" || got.Motivo != "errore" {
		t.Errorf("cancel callback: got %+v, want Annullata with motivo", got)
	}
}

// TestCallbackFailureDoesNotBlock: an unreachable callback URL never slows the API.
func TestCallbackFailureDoesNotBlock(t *testing.T) {
	h := newHarness(t, sim.Config{Step: 10 * time.Millisecond})
	for range 50 {
		h.create(iseeBody(map[string]any{"callback_data": map[string]any{"url": "http://127.0.0.1:1/"}}))
	}
	eventually(t, "failed attempts", func() bool { return h.sim.Counters()["callback_failures"] >= 50 })
}
