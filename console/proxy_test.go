package console_test

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestReadOnlyConsoleRefusedThroughAProxy: a console without a token is
// read-only for whoever reaches it, so it is served on loopback only; a
// reverse proxy on the same host would serve it to everyone who reaches
// the proxy. What comes through one (X-Forwarded-For, Forwarded,
// X-Real-IP; listed in ISEED_CONSOLE_TRUSTED_PROXIES or not) gets 403 and
// none of the console, with a warning saying what to set; a local client
// still gets it, from a listed proxy's address too. The walk behind nginx
// read the overview and the spend page of a tokenless console through the
// proxy.
func TestReadOnlyConsoleRefusedThroughAProxy(t *testing.T) {
	s := newSiteWith(t, pipetest.New(t), console.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, nil)
	target, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target)) // adds X-Forwarded-For, from 127.0.0.1, listed
	defer proxy.Close()
	get := func(base, path string, h http.Header) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(req.Header, h)
		resp, err := client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/", "/spend", "/open", "/dead-letters", "/login"} {
		for _, tt := range []struct {
			name, base string
			h          http.Header
		}{
			{"a proxy appending X-Forwarded-For", proxy.URL, nil},
			{"Forwarded", s.url, http.Header{"Forwarded": {"for=203.0.113.9"}}},
			{"X-Real-IP", s.url, http.Header{"X-Real-Ip": {"203.0.113.9"}}},
		} {
			if code, body := get(tt.base, path, tt.h); code != http.StatusForbidden || !strings.Contains(body, "never through a reverse proxy") {
				t.Errorf("%s through %s: got %d, want 403 saying it is never served through a reverse proxy", path, tt.name, code)
			}
		}
		if code, _ := get(s.url, path, nil); code != http.StatusOK {
			t.Errorf("%s from loopback: got %d, want 200", path, code)
		}
	}
	if logs := s.logs.String(); strings.Count(logs, "through a reverse proxy refused") != 1 {
		t.Errorf("warnings: got %d, want one (at most one a minute):\n%s", strings.Count(logs, "through a reverse proxy refused"), logs)
	}
}

// TestSessionCookieSecureBehindATLSProxy: iseed serves no TLS itself;
// behind a proxy that ends TLS and says X-Forwarded-Proto: https (as
// httputil's SetXForwarded, ingress-nginx and nginx with
// proxy_set_header X-Forwarded-Proto $scheme do), the session cookie and
// the logout's clearing one are Secure; over plain HTTP with no such
// header they are not, or the browser would not keep them.
func TestSessionCookieSecureBehindATLSProxy(t *testing.T) {
	s := newSite(t, pipetest.New(t), testToken, nil)
	target, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	tls := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.SetXForwarded()
		r.Out.Host = r.In.Host
	}})
	defer tls.Close()
	for _, tt := range []struct {
		name   string
		base   string
		cl     *http.Client
		secure bool
	}{
		{"through the TLS proxy", tls.URL, tls.Client(), true},
		{"plain HTTP", s.url, http.DefaultClient, false},
	} {
		cl := *tt.cl
		cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := cl.PostForm(tt.base+"/login", url.Values{"token": {testToken}, "next": {"/"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		cookies := resp.Cookies()
		if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 || cookies[0].Secure != tt.secure {
			t.Errorf("login %s: got %d with cookies %v, want 303 and one cookie, Secure %v", tt.name, resp.StatusCode, cookies, tt.secure)
		}
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("login %s: redirected to %q, want / (a path: the public host and scheme are kept)", tt.name, loc)
		}
	}
}
