package console_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

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

// TestLogoutEndsSessionOnEveryReplica: two consoles share one NATS server,
// as replicas behind a load balancer do. A session logged in on one is
// accepted by the other; logged out on the first, its cookie is refused by
// the other too, and by a replica started after the logout.
func TestLogoutEndsSessionOnEveryReplica(t *testing.T) {
	h := pipetest.New(t)
	a, b := newSite(t, h, testToken, nil), newSite(t, h, testToken, nil)
	cookie, other := a.login(t), a.login(t)
	get := call{method: http.MethodGet, path: "/", auth: "cookie"}
	if resp, _ := b.do(t, get, cookie, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("a session of replica a on replica b: got %d, want 200", resp.StatusCode)
	}
	resp, body := a.do(t, call{method: http.MethodPost, path: "/logout", auth: "cookie", csrf: "valid"}, cookie, a.csrfOf(t, cookie, "/"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout on a: got %d, want 303\n%s", resp.StatusCode, body)
	}
	refused := func(s *site) func() bool {
		return func() bool {
			resp, _ := s.do(t, get, cookie, "")
			return resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login")
		}
	}
	pipetest.WaitFor(t, 10*time.Second, "replica b refusing the cookie logged out on a", refused(b))
	c := newSite(t, h, testToken, nil)
	if !refused(c)() {
		t.Error("a replica started after the logout accepts the logged-out cookie, want it refused")
	}
	for _, s := range []*site{a, b, c} {
		if resp, _ := s.do(t, get, other, ""); resp.StatusCode != http.StatusOK {
			t.Errorf("another session after the logout: got %d, want 200", resp.StatusCode)
		}
	}
}

// TestLogoutWhileNATSIsDown: a logout NATS cannot store still ends the
// session on the replica that served it, and says that the other replicas
// accept it; once NATS is back, that replica stores it, and the others
// refuse it too.
func TestLogoutWhileNATSIsDown(t *testing.T) {
	h := pipetest.New(t)
	a, b := newSite(t, h, testToken, nil), newSite(t, h, testToken, nil)
	cookie := a.login(t)
	csrf := a.csrfOf(t, cookie, "/")
	h.NATS.Stop()
	resp, body := a.do(t, call{method: http.MethodPost, path: "/logout", auth: "cookie", csrf: "valid"}, cookie, csrf)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "logged out of this replica only") ||
		!strings.Contains(body, "ISEED_CONSOLE_TOKEN") {
		t.Fatalf("logout with NATS down: got %d, want 503 saying the other replicas still accept the session\n%s", resp.StatusCode, body)
	}
	if !slices.ContainsFunc(resp.Cookies(), func(c *http.Cookie) bool { return c.Name == "iseed_console" && c.MaxAge < 0 }) {
		t.Errorf("logout with NATS down: the cookie is not cleared (Set-Cookie %q)", resp.Header.Values("Set-Cookie"))
	}
	get := call{method: http.MethodGet, path: "/", auth: "cookie"}
	if resp, _ := a.do(t, get, cookie, ""); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the logged-out cookie on the replica that served the logout: got %d, want 303 to /login", resp.StatusCode)
	}
	if logs := a.logs.String(); !strings.Contains(logs, "logout not stored in NATS") {
		t.Errorf("the failed logout is not logged:\n%s", logs)
	}
	h.NATS.Start()
	pipetest.WaitFor(t, 30*time.Second, "replica b refusing the cookie once NATS is back", func() bool {
		resp, _ := b.do(t, get, cookie, "")
		return resp.StatusCode == http.StatusSeeOther
	})
}
