package console_test

import (
	"net"
	"net/http"
	"net/url"
	"testing"

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
