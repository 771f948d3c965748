package console_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/rs/zerolog"
)

// getHost makes a request for path with Host host, with the bearer token
// when bearer, and returns the status and body.
func (s *site) getHost(t *testing.T, method, path, host string, bearer bool) (int, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(url.Values{"token": {testToken}}.Encode())
	}
	req, err := http.NewRequest(method, s.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearer {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHostRefused: a request naming a host the console does not answer to
// (a DNS-rebinding page's) gets 421 and nothing of the console, on every
// console path, with a token or read-only; IP addresses, localhost, the
// listen host and ISEED_CONSOLE_HOSTS are served, and the daemon's own
// paths are not the console's to refuse.
func TestHostRefused(t *testing.T) {
	for _, token := range []string{testToken, ""} {
		t.Run("token "+strconv.FormatBool(token != ""), func(t *testing.T) {
			h := pipetest.New(t)
			s := newSiteWith(t, h, console.Config{Token: token, Hosts: []string{"iseed.example.com", " console.internal "}}, nil)
			seq := deadLetter(t, h, "emp-1", "insufficient_credit", pipetest.Submission("emp-1", pipetest.ValidFields("Mario")))
			dl := "/dead-letters/" + strconv.FormatUint(seq, 10)
			get, post := http.MethodGet, http.MethodPost
			for _, c := range []struct{ method, path string }{
				{get, "/"}, {get, "/open"}, {get, "/submission?tenant=" + pipetest.Tenant + "&id=emp-1"},
				{get, "/dead-letters"}, {get, dl}, {get, dl + "/replay"}, {get, "/spend"},
				{get, "/login"}, {post, "/login"}, {get, "/static/style.css"},
			} {
				for _, host := range []string{"attacker.example", "attacker.example:80", "iseed.example.com.attacker.example", "localhost.attacker.example"} {
					code, body := s.getHost(t, c.method, c.path, host, true)
					if code != http.StatusMisdirectedRequest || strings.Contains(body, pipetest.Tenant) || strings.Contains(body, "<") || strings.Contains(body, "iseed console") {
						t.Errorf("%s %s for Host %q: got %d, want 421 and nothing of the console:\n%s", c.method, c.path, host, code, body)
					}
				}
			}
			for _, host := range []string{"iseed.example.com", "ISEED.Example.com:8080", "iseed.example.com.", "console.internal",
				"localhost:45300", "127.0.0.1", "[::1]:8080", "10.1.2.3:8080", strings.TrimPrefix(s.url, "http://")} {
				if code, body := s.getHost(t, get, "/dead-letters", host, true); code != http.StatusOK || !strings.Contains(body, pipetest.Tenant) {
					t.Errorf("GET /dead-letters for Host %q: got %d, want 200 with the dead letters", host, code)
				}
			}
			if code, _ := s.getHost(t, get, "/metrics", "attacker.example", false); code != http.StatusOK {
				t.Errorf("the daemon's /metrics for another host: got %d, want 200 (not the console's to refuse)", code)
			}
		})
	}
}

// TestListenHostServed: the host of the listen address is served without
// being listed.
func TestListenHostServed(t *testing.T) {
	s := newSiteWith(t, pipetest.New(t), console.Config{Listen: "iseed-admin.example:8080", Token: testToken}, nil)
	for host, want := range map[string]int{"iseed-admin.example:8080": 200, "other.example:8080": 421} {
		if code, _ := s.getHost(t, http.MethodGet, "/", host, true); code != want {
			t.Errorf("Host %q: got %d, want %d", host, code, want)
		}
	}
}

func TestCheckHosts(t *testing.T) {
	for _, tt := range []struct {
		hosts []string
		ok    bool
	}{
		{nil, true},
		{[]string{"iseed.example.com", "iseed", "console.internal.", "10.0.0.5", "::1", ""}, true},
		{[]string{"https://iseed.example.com"}, false},
		{[]string{"iseed.example.com:8080"}, false},
		{[]string{"iseed.example.com/console"}, false},
		{[]string{"*.example.com"}, false},
		{[]string{"iseed..example.com"}, false},
	} {
		err := console.CheckHosts(tt.hosts)
		if (err == nil) != tt.ok {
			t.Errorf("CheckHosts(%q): got %v, want ok %v", tt.hosts, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "ISEED_CONSOLE_HOSTS") {
			t.Errorf("the error does not name the variable: %v", err)
		}
	}
}

// TestHostOnlyWarningNamesItsComponent: the warning of /metrics' host
// guard carries component "console", as the console's own does; it had no
// component (the console walk).
func TestHostOnlyWarningNamesItsComponent(t *testing.T) {
	var logs bytes.Buffer
	h := console.HostOnly("127.0.0.1:8080", nil, nil, zerolog.New(&logs), http.NotFoundHandler())
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Host = "evil.example"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMisdirectedRequest {
		t.Errorf("status: got %d, want %d", rec.Code, http.StatusMisdirectedRequest)
	}
	if got := logs.String(); !strings.Contains(got, `"component":"console"`) || !strings.Contains(got, "evil.example") {
		t.Errorf("warning: got %q, want component console and the host", got)
	}
}

// TestHostOnlyWarningNamesTheClient: behind a trusted reverse proxy the
// warning of /metrics' host guard names the client's address, as every
// console line does, not the proxy's; a forged X-Forwarded-For from
// another peer changes nothing. It named the proxy (the walk behind
// nginx: "remote":"127.0.0.2", the proxy).
func TestHostOnlyWarningNamesTheClient(t *testing.T) {
	proxy := []netip.Prefix{netip.MustParsePrefix("192.0.2.10/32")}
	for _, tt := range []struct{ name, peer, xff, want string }{
		{"through the proxy", "192.0.2.10:40000", "203.0.113.9", `"remote":"203.0.113.9"`},
		{"forged, from another peer", "198.51.100.4:40000", "203.0.113.9", `"remote":"198.51.100.4"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := console.HostOnly("127.0.0.1:8080", nil, proxy, zerolog.New(&logs), http.NotFoundHandler())
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Host, req.RemoteAddr = "evil.example", tt.peer
			req.Header.Set("X-Forwarded-For", tt.xff)
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got := logs.String(); !strings.Contains(got, tt.want) {
				t.Errorf("warning: got %q, want %s", got, tt.want)
			}
		})
	}
}

// TestDirect: /metrics' guard refuses what came through a reverse proxy,
// carrying a header proxies add; a direct request passes.
func TestDirect(t *testing.T) {
	h := console.Direct(http.NotFoundHandler())
	for _, tt := range []struct {
		header string
		want   int
	}{
		{"", http.StatusNotFound},
		{"X-Forwarded-For", http.StatusForbidden},
		{"Forwarded", http.StatusForbidden},
		{"X-Real-IP", http.StatusForbidden},
	} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tt.header != "" {
			req.Header.Set(tt.header, "203.0.113.9")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("with %q: got %d, want %d", tt.header, rec.Code, tt.want)
		}
	}
}
