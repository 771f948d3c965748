package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestSessionPerLoginAndLogout: logins in the same second get different
// session cookies, and logging out ends that session on the server, not
// only in the browser: its cookie, sent again, is refused, while another
// login's still works.
func TestSessionPerLoginAndLogout(t *testing.T) {
	s := newSite(t, pipetest.New(t), testToken, nil)
	a, b := s.login(t), s.login(t)
	if a.Value == b.Value {
		t.Fatalf("two logins: got the same session cookie %q, want one each", a.Value)
	}
	for _, c := range []*http.Cookie{a, b} {
		if resp, _ := s.do(t, call{method: http.MethodGet, path: "/", auth: "cookie"}, c, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("a fresh session: got %d, want 200", resp.StatusCode)
		}
	}

	resp, body := s.do(t, call{method: http.MethodPost, path: "/logout", auth: "cookie", csrf: "valid"}, a, s.csrfOf(t, a, "/"))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("logout: got %d to %q, want 303 to /login\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	get := call{method: http.MethodGet, path: "/", auth: "cookie"}
	if resp, _ := s.do(t, get, a, ""); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("the logged-out cookie sent again: got %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	post := call{method: http.MethodPost, path: "/logout", auth: "cookie", form: url.Values{}}
	if resp, _ := s.do(t, post, a, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a POST with the logged-out cookie: got %d, want 403", resp.StatusCode)
	}
	if resp, _ := s.do(t, get, b, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("the other login's session after the logout: got %d, want 200", resp.StatusCode)
	}
}
