package tracking

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/rs/zerolog"
)

// TestForgedCallbackLogNamesItsSource: the runbook (IseedCallbacksForged)
// tells the operator to block the sources of forged callbacks at the
// ingress, so their log line names the peer's address and, apart and
// labelled untrusted, the X-Forwarded-For the request carried (addresses
// only); never the body. A flood of them writes five lines a minute.
func TestForgedCallbackLogNamesItsSource(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	var logs pipetest.Buffer
	c, err := NewCallbacks(CallbackConfig{PublicURL: u, Key: bytes.Repeat([]byte("k"), 32), Logger: zerolog.New(&logs)}, &countingRefresher{})
	if err != nil {
		t.Fatal(err)
	}
	c.Register(mux)
	wrong := strings.Repeat("0", 64)
	post := func(xff []string, body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/callbacks/acme/emp-1", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for _, v := range xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("forged callback: got %d, want 403", resp.StatusCode)
		}
	}
	post([]string{"203.0.113.9, <script>RSSMRA80A01H501U", "[2001:db8::1]:443"}, callbackJSON(wrong, "Visura evasa"))
	post(nil, `{"data":{"esito":"no secret here"}}`)
	for range 20 {
		post([]string{"192.0.2.1"}, callbackJSON(wrong, "Visura evasa"))
	}

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["message"] == "callback with a wrong or missing secret: refused" {
			lines = append(lines, m)
		}
	}
	if got, want := len(lines), 5; got != want {
		t.Fatalf("lines for 22 forged callbacks: got %d, want %d (at most five a minute)\n%s", got, want, logs.String())
	}
	tests := []struct {
		name      string
		line      map[string]any
		forwarded any // nil: no forwarded_for_untrusted field
	}{
		{"through proxies", lines[0], "203.0.113.9, ?, 2001:db8::1"},
		{"without a secret, direct", lines[1], nil},
		{"through a proxy", lines[2], "192.0.2.1"},
	}
	for _, tt := range tests {
		if got, want := tt.line["peer"], "127.0.0.1"; got != want {
			t.Errorf("%s: peer: got %v, want %v", tt.name, got, want)
		}
		if got := tt.line["forwarded_for_untrusted"]; got != tt.forwarded {
			t.Errorf("%s: forwarded_for_untrusted: got %v, want %v", tt.name, got, tt.forwarded)
		}
		if tt.line["tenant"] != "acme" || tt.line["submission"] != "emp-1" {
			t.Errorf("%s: got tenant %v, submission %v; want acme, emp-1", tt.name, tt.line["tenant"], tt.line["submission"])
		}
	}
	for _, leak := range []string{wrong, "Visura evasa", "no secret here", "RSSMRA", "script"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("the log carries %q, from the body or a header; want addresses only\n%s", leak, logs.String())
		}
	}
}

// TestForwardedHops: what a forged callback's line keeps of its
// X-Forwarded-For: addresses only, the rightmost few.
func TestForwardedHops(t *testing.T) {
	tests := []struct {
		lines []string
		want  string
	}{
		{[]string{"203.0.113.9"}, "203.0.113.9"},
		{[]string{" 203.0.113.9 ,10.0.0.2"}, "203.0.113.9, 10.0.0.2"},
		{[]string{"203.0.113.9", "10.0.0.2"}, "203.0.113.9, 10.0.0.2"}, // two header lines read as one list
		{[]string{"203.0.113.9:5000, [2001:db8::1]:443, [2001:db8::2], ::ffff:10.0.0.3"}, "203.0.113.9, 2001:db8::1, 2001:db8::2, 10.0.0.3"},
		{[]string{"unknown, evil\nline, 10.0.0.2"}, "?, ?, 10.0.0.2"},
		{[]string{""}, "?"},
		{[]string{"1.1.1.1, 2.2.2.2, 3.3.3.3, 4.4.4.4, 5.5.5.5, 6.6.6.6"}, "…, 3.3.3.3, 4.4.4.4, 5.5.5.5, 6.6.6.6"},
	}
	for _, tt := range tests {
		if got := forwardedHops(tt.lines); got != tt.want {
			t.Errorf("forwardedHops(%q): got %q, want %q", tt.lines, got, tt.want)
		}
	}
}
