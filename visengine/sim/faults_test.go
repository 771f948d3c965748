package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

func TestFaultsNext(t *testing.T) {
	tests := []struct {
		name    string
		faults  sim.Faults
		path    string
		want    []int // statuses of consecutive calls
		retryAf string
	}{
		{"errors next 2", sim.Faults{Errors: map[string]sim.ErrorFault{"GET /visure": {Next: 2, Status: 502}}}, "/visure", []int{502, 502, 200, 200}, ""},
		{"default status 503", sim.Faults{Errors: map[string]sim.ErrorFault{"GET /visure": {Next: 1}}}, "/visure", []int{503, 200}, ""},
		{"other endpoint untouched", sim.Faults{Errors: map[string]sim.ErrorFault{"GET /richiesta/{id}": {Next: 5}}}, "/visure", []int{200}, ""},
		{"wildcard", sim.Faults{Errors: map[string]sim.ErrorFault{"*": {Next: 1, Status: 500}}}, "/visure", []int{500, 200}, ""},
		{"throttle", sim.Faults{Throttle: map[string]sim.ThrottleFault{"GET /visure": {Next: 1, RetryAfter: 3}}}, "/visure", []int{429, 200}, "3"},
		{"throttle before errors", sim.Faults{
			Throttle: map[string]sim.ThrottleFault{"*": {Next: 1}},
			Errors:   map[string]sim.ErrorFault{"GET /visure": {Next: 1}},
		}, "/visure", []int{429, 503, 200}, "1"},
		{"rate 1", sim.Faults{Errors: map[string]sim.ErrorFault{"GET /visure": {Rate: 1, Status: 500}}}, "/visure", []int{500, 500, 500}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, sim.Config{Faults: tt.faults})
			for i, want := range tt.want {
				r := h.do(http.MethodGet, tt.path, nil)
				if r.status != want {
					t.Fatalf("call %d: got %d, want %d", i, r.status, want)
				}
				if want != 200 && (r.code() != want || r.env.Success) {
					t.Errorf("call %d: got code %d, want %d", i, r.code(), want)
				}
				if want == 429 && r.header.Get("Retry-After") != tt.retryAf {
					t.Errorf("Retry-After: got %q, want %q", r.header.Get("Retry-After"), tt.retryAf)
				}
			}
		})
	}
}

// TestFaultRateDeterministic: the same seed fails the same calls.
func TestFaultRateDeterministic(t *testing.T) {
	run := func(seed int64) []int {
		h := newHarness(t, sim.Config{Seed: seed, Faults: sim.Faults{Errors: map[string]sim.ErrorFault{"GET /visure": {Rate: 0.5}}}})
		var out []int
		for range 40 {
			out = append(out, h.do(http.MethodGet, "/visure", nil).status)
		}
		return out
	}
	a, b := run(1), run(1)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed: got %v and %v", a, b)
	}
	failed := 0
	for _, status := range a {
		if status == http.StatusServiceUnavailable {
			failed++
		}
	}
	if failed < 10 || failed > 30 {
		t.Errorf("rate 0.5: got %d failures of 40", failed)
	}
}

func TestLatency(t *testing.T) {
	h := newHarness(t, sim.Config{Faults: sim.Faults{Latency: 50 * time.Millisecond}})
	start := time.Now()
	h.ok(http.MethodGet, "/visure", nil)
	if got := time.Since(start); got < 50*time.Millisecond {
		t.Errorf("latency: call took %v, want at least 50ms", got)
	}
}

func TestCommitThenFail502(t *testing.T) {
	h := newHarness(t, sim.Config{Faults: sim.Faults{CommitThenFail: sim.CommitThenFail{Next: 1}}})
	r := h.do(http.MethodPost, "/richiesta", iseeBody(nil))
	if r.status != http.StatusBadGateway || r.code() != 502 {
		t.Fatalf("first POST: got %d/%d, want 502/502", r.status, r.code())
	}
	if got := h.sim.Wallet(); got != 988 {
		t.Errorf("wallet: got %v, want 988 (charged although the answer was 502)", got)
	}
	list := decode[[]richiesta](t, h.ok(http.MethodGet, "/richiesta", nil))
	if len(list) != 1 || h.get(list[0].ID).Stato != "In erogazione" {
		t.Fatalf("GET /richiesta: got %+v, want the committed request", list)
	}
	h.create(iseeBody(nil)) // the next one goes through
	if c := h.sim.Counters(); c["created"] != 2 || c["charged"] != 2 || c["POST /richiesta"] != 2 {
		t.Errorf("counters: got %v, want 2 created, 2 charged, 2 posts", c)
	}
	if r := h.do(http.MethodPost, "/richiesta", iseeBody(map[string]any{"test": true})); r.status != 200 {
		t.Errorf("test call with no fault left: got %d", r.status)
	}
}

func TestCommitThenFailHang(t *testing.T) {
	h := newHarness(t, sim.Config{Faults: sim.Faults{CommitThenFail: sim.CommitThenFail{Mode: sim.ModeHang, Next: 2}}})
	// The client gives up: the request exists and was charged anyway.
	client := &http.Client{Timeout: 100 * time.Millisecond}
	body, _ := json.Marshal(iseeBody(nil))
	req, _ := http.NewRequest(http.MethodPost, h.url+"/richiesta", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+token)
	if _, err := client.Do(req); err == nil || !isTimeout(err) {
		t.Fatalf("hung POST: got %v, want a client timeout", err)
	}
	if c := h.sim.Counters(); c["created"] != 1 || c["charged"] != 1 {
		t.Errorf("counters: got %v, want 1 created and charged", c)
	}
	// Close releases a handler still hanging.
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/richiesta", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := h.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway {
				err = errors.New(resp.Status)
			}
		}
		done <- err
	}()
	eventually(t, "the second request to be created", func() bool { return h.sim.Counters()["created"] == 2 })
	h.sim.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("hung POST after Close: got %v, want 502", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the hung handler")
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
