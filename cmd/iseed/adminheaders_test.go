package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestAdminListenerAnswersCarryConsoleHeaders: every answer of the admin
// listener, where the console is served, carries the console's security
// headers, those that http.ServeMux writes on its own too (404 for an
// unknown path, 405 for a wrong method, the redirects of a missing
// trailing slash and of a cleaned path), which pass no route of the
// console. They used to go out without them: framable, cacheable, without
// a content security policy.
func TestAdminListenerAnswersCarryConsoleHeaders(t *testing.T) {
	d := startCLIDaemon(t)
	base := "http://" + d.admin.ln.Addr().String()
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"an unknown path", http.MethodGet, "/no-such-page", http.StatusNotFound},
		{"a wrong method", http.MethodPost, "/open", http.StatusMethodNotAllowed},
		{"a wrong method on a static file", http.MethodDelete, "/static/style.css", http.StatusMethodNotAllowed},
		{"a static file that is not there", http.MethodGet, "/static/nope.css", http.StatusNotFound},
		{"a missing trailing slash", http.MethodGet, "/static", http.StatusTemporaryRedirect},
		{"a path to clean", http.MethodGet, "/open/../spend", http.StatusTemporaryRedirect},
		{"a doubled slash", http.MethodGet, "//open", http.StatusTemporaryRedirect},
		{"a page", http.MethodGet, "/open", http.StatusOK},
		{"health", http.MethodGet, "/healthz", http.StatusOK},
	}
	want := map[string]string{
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s: got %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s %s (%d): %s got %q, want %q", tt.method, tt.path, resp.StatusCode, k, got, v)
				}
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("%s %s (%d): Content-Security-Policy got %q, want the console's", tt.method, tt.path, resp.StatusCode, csp)
			}
		})
	}
}
