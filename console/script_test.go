package console_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestScriptsGetUnauthorized: a request that presents a bearer token (a
// script: curl, a probe) and is not authenticated by it gets 401 with a
// bearer challenge and a line of plain text, not a redirect to a login
// form it cannot fill in; so does one that asks for JSON only. A browser,
// which sends no bearer token and takes HTML, keeps the redirect. The
// scheme is matched without regard to case (RFC 9110).
func TestScriptsGetUnauthorized(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	cookie := s.login(t)
	seq := deadLetter(t, h, "emp-1", "insufficient_credit", pipetest.Submission("emp-1", pipetest.ValidFields("Mario")))
	replay := "/dead-letters/" + strconv.FormatUint(seq, 10) + "/replay"
	hd := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	const (
		missing = `Bearer realm="iseed console"`
		invalid = `Bearer realm="iseed console", error="invalid_token"`
	)
	// Five wrong tokens at most (from one address, as every call here):
	// the sixth within a second would be limited (429).
	tests := []struct {
		call
		challenge string // WWW-Authenticate of a 401
	}{
		{call: call{name: "a browser", path: "/open", header: hd("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"), status: 303, location: "/login?next=%2Fopen"}},
		{call: call{name: "curl without a token", path: "/open", header: hd("Accept", "*/*"), status: 303, location: "/login"}},
		{call: call{name: "no Accept header", path: "/open", status: 303, location: "/login"}},
		{call: call{name: "a proxy's basic credentials", path: "/open", header: hd("Authorization", "Basic dXNlcjpwYXNz"), status: 303, location: "/login"}},
		{call: call{name: "a wrong bearer token", path: "/open", auth: "wrong", status: 401, body: "not this console's token", notBody: "<html"}, challenge: invalid},
		{call: call{name: "the right token, lower-case scheme", path: "/open", header: hd("Authorization", "bearer "+testToken), status: 200, body: `id="open-count"`}},
		{call: call{name: "the right token, upper-case scheme", path: "/open", header: hd("Authorization", "BEARER "+testToken), status: 200, body: `id="open-count"`}},
		{call: call{name: "the scheme without a token", path: "/open", header: hd("Authorization", "Bearer"), status: 401, body: "Authorization: Bearer"}, challenge: missing},
		{call: call{name: "a wrong bearer token posting a replay", method: http.MethodPost, path: replay, auth: "wrong", status: 401}, challenge: invalid},
		{call: call{name: "JSON wanted, no token", path: "/open", header: hd("Accept", "application/json"), status: 401, body: "Authorization: Bearer"}, challenge: missing},
		{call: call{name: "HTML refused, no token", path: "/", header: hd("Accept", "application/json, text/html;q=0"), status: 401}, challenge: missing},
		{call: call{name: "a wrong bearer token beside a session", path: "/open", auth: "wrong", header: hd("Cookie", cookie.Name+"="+cookie.Value), status: 401}, challenge: invalid},
		{call: call{name: "a session", path: "/open", auth: "cookie", header: hd("Accept", "application/json"), status: 200}},
		{call: call{name: "the login form", path: "/login", auth: "wrong", status: 200, body: `name="token"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.method == "" {
				tt.method = http.MethodGet
			}
			resp, body := s.do(t, tt.call, cookie, "")
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s: got %d, want %d\n%s", tt.method, tt.path, resp.StatusCode, tt.status, body)
			}
			if tt.location != "" && !strings.HasPrefix(resp.Header.Get("Location"), tt.location) {
				t.Errorf("location: got %q, want %q…", resp.Header.Get("Location"), tt.location)
			}
			if tt.body != "" && !strings.Contains(body, tt.body) {
				t.Errorf("body lacks %q:\n%s", tt.body, body)
			}
			if tt.notBody != "" && strings.Contains(body, tt.notBody) {
				t.Errorf("body has %q:\n%s", tt.notBody, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate: got %q, want %q", got, tt.challenge)
			}
			if tt.status == http.StatusUnauthorized {
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type: got %q, want text/plain", ct)
				}
				if strings.Contains(body, testToken) || strings.Count(body, "\n") != 1 {
					t.Errorf("body: got %q, want one line without the token", body)
				}
			}
			if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("X-Frame-Options: got %q, want DENY", got)
			}
		})
	}
}

// TestReadOnlyIgnoresBearer: a console without a token has nothing to
// compare a bearer token with: it shows its pages to a script as to anyone.
func TestReadOnlyIgnoresBearer(t *testing.T) {
	s := newSite(t, pipetest.New(t), "", nil)
	resp, body := s.do(t, call{method: http.MethodGet, path: "/open", auth: "wrong", header: http.Header{"Accept": {"application/json"}}}, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d, want 200\n%s", resp.StatusCode, body)
	}
}

// TestScriptLimitedInPlainText: a script past the wrong-token limit gets
// its 429 as its 401, a line of plain text, with Retry-After; a browser
// from another address that hit it through the login form, the page.
func TestScriptLimitedInPlainText(t *testing.T) {
	s := newSite(t, pipetest.New(t), testToken, nil)
	script := clientFrom("127.0.0.2")
	var resp *http.Response
	var body []byte
	for range 20 {
		req, err := http.NewRequest(http.MethodGet, s.url+"/open", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer guessed-bearer-token-0123456789")
		if resp, err = script.Do(req); err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if resp.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		resp.Header.Get("Retry-After") == "" || strings.Count(string(body), "\n") != 1 {
		t.Errorf("a script past the limit: got %d, %q, Retry-After %q, %q; want 429, one line of text/plain, Retry-After",
			resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), body)
	}
	browser := clientFrom("127.0.0.3")
	for range 20 {
		var err error
		if resp, err = browser.PostForm(s.url+"/login", url.Values{"token": {"wrong"}}); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if resp.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("a browser past the limit: got %d, %q; want 429, text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestWrongLoginNamesTheScheme: the login form's 401 for a wrong token
// carries the challenge every 401 must (RFC 9110, 15.5.2), and is still the
// form, which a browser shows as it is (none prompts for Bearer).
func TestWrongLoginNamesTheScheme(t *testing.T) {
	s := newSite(t, pipetest.New(t), testToken, nil)
	resp, body := s.do(t, call{method: http.MethodPost, path: "/login", form: url.Values{"token": {"nope"}}}, nil, "")
	if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || got != `Bearer realm="iseed console"` || !strings.Contains(body, `name="token"`) {
		t.Errorf("a wrong login: got %d, WWW-Authenticate %q; want 401, %q, the form again:\n%s", resp.StatusCode, got, `Bearer realm="iseed console"`, body)
	}
}
