package visengine_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

// TestOnRetryAfterHearsEveryAskedWait: Config.OnRetryAfter is told the
// wait of every answer that asks for one (429 or 503 with Retry-After), on
// every endpoint, so that the caller can pause all its calls; answers that
// ask nothing are not reported.
func TestOnRetryAfterHearsEveryAskedWait(t *testing.T) {
	for _, tt := range []struct {
		name, retryAfter string
		status           int
		want             time.Duration
	}{
		{"429 with seconds", "7", http.StatusTooManyRequests, 7 * time.Second},
		{"503 with seconds", "90", http.StatusServiceUnavailable, 90 * time.Second},
		{"429 without Retry-After", "", http.StatusTooManyRequests, 0},
		{"500 with Retry-After", "7", http.StatusInternalServerError, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var heard []time.Duration
			c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{"success":false,"message":"slow down","error":null,"data":null}`))
			}), func(cfg *visengine.Config) {
				cfg.OnRetryAfter = func(d time.Duration) { mu.Lock(); heard = append(heard, d); mu.Unlock() }
			})
			if _, err := c.Richiesta(context.Background(), "5f22f722065afc42223c7131"); err == nil {
				t.Fatal("want an error")
			}
			if _, err := c.Visure(context.Background()); err == nil {
				t.Fatal("want an error")
			}
			mu.Lock()
			defer mu.Unlock()
			var want []time.Duration
			if tt.want > 0 {
				want = []time.Duration{tt.want, tt.want}
			}
			if len(heard) != len(want) || (len(want) > 0 && (heard[0] != want[0] || heard[1] != want[1])) {
				t.Errorf("heard %v, want %v", heard, want)
			}
		})
	}
}
