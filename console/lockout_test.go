package console_test

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/internal/pipetest"
)

// clientFrom is a client that does not follow redirects and connects from
// ip (a loopback address other than 127.0.0.1 stands for another host).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := client()
	c.Transport = &http.Transport{DialContext: d.DialContext}
	return c
}

// postLogin posts token to the login form from cl and returns the status.
func (s *site) postLogin(t *testing.T, cl *http.Client, token string) int {
	t.Helper()
	resp, err := cl.PostForm(s.url+"/login", url.Values{"token": {token}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// exhaust posts wrong tokens from cl until the console answers 429, and
// returns the statuses it got.
func (s *site) exhaust(t *testing.T, cl *http.Client) []int {
	t.Helper()
	var got []int
	for range 20 {
		got = append(got, s.postLogin(t, cl, "wrong-token-of-a-stranger"))
		if got[len(got)-1] == http.StatusTooManyRequests {
			return got
		}
	}
	t.Fatalf("wrong logins: got %v, never 429", got)
	return nil
}

// TestStrangerCannotLockOutOperator: a stranger guessing wrong tokens is
// limited, after a burst of five, while the operator, from another address,
// logs in every time.
func TestStrangerCannotLockOutOperator(t *testing.T) {
	s := newSite(t, pipetest.New(t), testToken, nil)
	stranger, operator := clientFrom("127.0.0.2"), clientFrom("127.0.0.1")
	first := s.exhaust(t, stranger)
	for i, code := range first[:5] {
		if code != http.StatusUnauthorized {
			t.Fatalf("wrong login %d: got %d, want 401 (statuses %v)", i+1, code, first)
		}
	}
	for i := range 10 {
		if i > 0 {
			s.exhaust(t, stranger)
		}
		if got := s.postLogin(t, operator, testToken); got != http.StatusSeeOther {
			t.Errorf("operator's login %d while a stranger guesses: got %d, want 303", i+1, got)
		}
	}
}

// getWithBearer gets / from cl with token as a bearer and returns the
// status.
func (s *site) getWithBearer(t *testing.T, cl *http.Client, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestBearerGuessesLimited: wrong bearer tokens count against their
// address like wrong logins: five are refused (401), then
// the address gets 429 without its token being compared, and each refusal
// is logged without the guess; the operator, from another address, gets
// in with the right one.
func TestBearerGuessesLimited(t *testing.T) {
	s := newSite(t, pipetest.New(t), testToken, nil)
	stranger, operator := clientFrom("127.0.0.2"), clientFrom("127.0.0.1")
	const guess = "guessed-bearer-token-0123456789"
	var got []int
	for range 20 {
		got = append(got, s.getWithBearer(t, stranger, guess))
		if got[len(got)-1] == http.StatusTooManyRequests {
			break
		}
	}
	if len(got) < 6 || got[len(got)-1] != http.StatusTooManyRequests {
		t.Fatalf("wrong bearer tokens: got %v, want five 401 then 429", got)
	}
	for i, code := range got[:5] {
		if code != http.StatusUnauthorized {
			t.Errorf("wrong bearer %d: got %d, want 401 (statuses %v)", i+1, code, got)
		}
	}
	if code := s.getWithBearer(t, operator, testToken); code != http.StatusOK {
		t.Errorf("the operator's bearer while a stranger guesses: got %d, want 200", code)
	}
	logs := s.logs.String()
	if n := strings.Count(logs, `"via":"bearer"`); n < 5 {
		t.Errorf("refused bearer tokens logged: got %d lines, want at least 5:\n%s", n, logs)
	}
	if !strings.Contains(logs, `"remote":"127.0.0.2"`) || strings.Contains(logs, guess) || strings.Contains(logs, testToken) {
		t.Errorf("the log lines name the remote address and no token:\n%s", logs)
	}
}

// forwarding is a transport that adds an X-Forwarded-For line to every
// request, as a reverse proxy does (or a client forging one); next gives
// each request's value.
type forwarding struct {
	base http.RoundTripper
	next func() string
}

func (f forwarding) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Add("X-Forwarded-For", f.next())
	return f.base.RoundTrip(r)
}

// clientVia is clientFrom(ip) adding X-Forwarded-For: next() to each request.
func clientVia(ip string, next func() string) *http.Client {
	c := clientFrom(ip)
	c.Transport = forwarding{base: c.Transport, next: next}
	return c
}

// TestStrangerBehindProxyCannotLockOutOperator: behind a trusted reverse
// proxy every request comes from the proxy's address; a stranger's wrong
// tokens are limited by the address the proxy forwards, so the operator,
// through the same proxy, still logs in, and the log names the stranger's
// address.
func TestStrangerBehindProxyCannotLockOutOperator(t *testing.T) {
	proxy := netip.MustParsePrefix("127.0.0.1/32")
	s := newSiteWith(t, pipetest.New(t), console.Config{Token: testToken, TrustedProxies: []netip.Prefix{proxy}}, nil)
	stranger := clientVia("127.0.0.1", func() string { return "203.0.113.50, 198.51.100.7" })
	operator := clientVia("127.0.0.1", func() string { return "198.51.100.8" })
	for i := range 3 {
		s.exhaust(t, stranger)
		if got := s.postLogin(t, operator, testToken); got != http.StatusSeeOther {
			t.Errorf("operator's login %d through the proxy while a stranger guesses: got %d, want 303", i+1, got)
		}
	}
	if logs := s.logs.String(); !strings.Contains(logs, `"remote":"198.51.100.7"`) || strings.Contains(logs, "203.0.113.50") {
		t.Errorf("the refusals name the address the proxy forwarded, not the one the client wrote:\n%s", logs)
	}
}

// TestForgedForwardedForIgnored: from a peer that is not a trusted proxy,
// X-Forwarded-For changes nothing: a stranger naming a new address with
// each guess is limited all the same, with or without trusted proxies
// configured, and the log names its real address.
func TestForgedForwardedForIgnored(t *testing.T) {
	for _, tt := range []struct {
		name    string
		proxies []netip.Prefix
	}{
		{"no trusted proxies", nil},
		{"another trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newSiteWith(t, pipetest.New(t), console.Config{Token: testToken, TrustedProxies: tt.proxies}, nil)
			n := 0
			stranger := clientVia("127.0.0.2", func() string { n++; return "198.51.100." + strconv.Itoa(n) })
			got := s.exhaust(t, stranger)
			if len(got) != 6 {
				t.Errorf("wrong logins naming a new address each: got %v, want five 401 then 429", got)
			}
			if logs := s.logs.String(); !strings.Contains(logs, `"remote":"127.0.0.2"`) || strings.Contains(logs, "198.51.100.") {
				t.Errorf("the refusals name the peer, never the forged address:\n%s", logs)
			}
		})
	}
}
