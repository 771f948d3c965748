package console_test

import (
	"net/http"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestWrongTokensAreLimitedPerReplica: each replica limits wrong tokens
// with its own count, with no coordinator: a stranger who drained one
// replica's limit for their address has another five on the next replica
// behind the same Service, as docs/operations.md says (it said five in
// all).
func TestWrongTokensAreLimitedPerReplica(t *testing.T) {
	h := pipetest.New(t)
	one, two := newSite(t, h, testToken, nil), newSite(t, h, testToken, nil)
	stranger := clientFrom("127.0.0.2")
	one.exhaust(t, stranger)
	for i := range 5 {
		if got := two.postLogin(t, stranger, "wrong-token-of-a-stranger"); got != http.StatusUnauthorized {
			t.Fatalf("wrong login %d on the other replica, the first one's limit drained: got %d, want 401 (compared: a limit of its own)", i+1, got)
		}
	}
	if got := two.postLogin(t, stranger, "wrong-token-of-a-stranger"); got != http.StatusTooManyRequests {
		t.Errorf("sixth wrong login on the other replica: got %d, want 429", got)
	}
}
