package e2e_test

import (
	"net/http"
	"testing"
)

// TestReplayedCallbackBodyAcrossReplicas: the callback port is served by
// every replica (a Service in front of them), and each replica remembers
// only the callbacks it let through itself, with no coordinator: a leaked
// body posted to two replicas in turn re-reads the request once per
// interval on each, as docs/security.md says (it said once in all).
func TestReplayedCallbackBodyAcrossReplicas(t *testing.T) {
	h, secret, gets := leakedCallback(t)
	first := h.cbURL
	h.newTracker(nil) // a second replica: its tracker and its callback endpoint
	h.serveCallbacks(0)
	second := h.cbURL
	for i := range 50 {
		h.cbURL = []string{first, second}[i%2]
		if got := h.postCallback("emp-leak", secret); got != http.StatusOK {
			t.Fatalf("status: got %d, want 200", got)
		}
	}
	if got := h.Counter("GET /richiesta/{id}") - gets; got != 2 {
		t.Errorf("upstream reads for 50 replays within the interval, across two replicas: got %d, want 2 (one a replica)", got)
	}
}
