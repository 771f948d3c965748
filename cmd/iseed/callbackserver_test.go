package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/tracking"
)

type noRefresh struct{}

func (noRefresh) Reread(context.Context, string, string) (bool, error) { return false, nil }

// TestCallbackServerRefusesLargeHeaders: what a caller sends before the
// callback handler can tell it from the upstream is small.
func TestCallbackServerRefusesLargeHeaders(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &url.URL{Scheme: "http", Host: ln.Addr().String()}
	cb, err := tracking.NewCallbacks(tracking.CallbackConfig{PublicURL: u, Key: bytes.Repeat([]byte("k"), 32)}, noRefresh{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	cb.Register(mux)
	srv := newCallbackServer(mux)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	body := fmt.Sprintf(`{"data":{"stato_richiesta":"Visura evasa","callback_data":{"data":{"secret":%q}}}}`, cb.Secret("acme", "emp-1"))
	tests := []struct {
		name   string
		header int // bytes of an extra header
		want   int
	}{
		{"the upstream's headers", 100, http.StatusOK},
		{"headers beyond the limit", 2 * callbackMaxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("POST", u.JoinPath("callbacks", "acme", "emp-1").String(), strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Padding", strings.Repeat("p", tt.header))
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
