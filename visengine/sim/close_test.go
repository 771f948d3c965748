package sim_test

import (
	"bytes"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// simStacks counts goroutines running code of package sim.
func simStacks() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("iseed/visengine/sim.")) {
			n++
		}
	}
	return n
}

func TestCloseLeavesNothingRunning(t *testing.T) {
	before := runtime.NumGoroutine()
	rc := &receiver{failFirst: 3}
	recv := httptest.NewServer(rc)
	s := sim.New(sim.Config{Token: token, Step: 10 * time.Millisecond, CancelRate: 0.2})
	ts := httptest.NewServer(s)
	h := &harness{t: t, sim: s, url: ts.URL, client: ts.Client()}
	for i := range 20 {
		url := recv.URL
		if i%4 == 0 {
			url = "http://127.0.0.1:1/" // fails and is retried with backoff
		}
		h.create(iseeBody(map[string]any{"callback_data": map[string]any{"url": url, "method": "JSON"}}))
	}
	for range 1000 { // open requests without callbacks cost no goroutine
		h.createDirect(map[string]any{"hash_visura": sim.HashISEE, "state": 0})
	}
	eventually(t, "some callbacks", func() bool { return len(rc.received()) >= 10 })
	if n := simStacks(); n != 5 {
		t.Errorf("while running: got %d goroutines in package sim, want 5 (scheduler + 4 workers)", n)
	}
	done := make(chan struct{})
	go func() {
		s.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	ts.Close()
	recv.Close()
	ts.Client().CloseIdleConnections()
	eventually(t, "no goroutine in package sim", func() bool { return simStacks() == 0 })
	eventually(t, "the goroutine count to return to its baseline", func() bool { return runtime.NumGoroutine() <= before })
	s.Close() // idempotent
	// The handler still answers after Close, without starting anything.
	h.createDirect(iseeBody(map[string]any{"callback_data": map[string]any{"url": "http://127.0.0.1:1/"}}))
	if n := simStacks(); n != 0 {
		t.Errorf("after a call past Close: got %d goroutines in package sim, want 0", n)
	}
}
