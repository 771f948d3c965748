package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// browserResolve resolves a Location header as a browser does (the URL
// Standard): tabs and newlines anywhere are removed, leading and trailing
// spaces and controls trimmed, and a backslash is a slash in an http URL.
func browserResolve(base *url.URL, location string) (*url.URL, error) {
	s := strings.Trim(location, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(s)
	ref, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(ref), nil
}

// TestLoginRedirectStaysOnSite: after a login the console goes back to the
// page asked for (next), and only ever to a page of its own, whatever a
// link to the login form carried: a browser removes tabs and newlines from
// a Location, so "/<tab>/evil.example" would take the operator, just
// logged in, to evil.example.
func TestLoginRedirectStaysOnSite(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	base, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ next, want string }{
		{"/open?tenant=acme", "/open?tenant=acme"},
		{"//evil.example/", "/"},
		{`/\evil.example/`, "/"},
		{"https://evil.example/", "/"},
		{"/\t/evil.example/", "/"},
		{"/\n/evil.example/", "/"},
		{"/\r\n/evil.example/", "/"},
		{"/\t\\evil.example/", "/"},
		{"/\x00/evil.example/", "/"},
	}
	for _, tt := range tests {
		t.Run(url.QueryEscape(tt.next), func(t *testing.T) {
			resp, err := client().PostForm(s.url+"/login", url.Values{"token": {testToken}, "next": {tt.next}})
			if err != nil {
				// Go's client cannot parse a Location with a control
				// character; a browser removes it and follows.
				t.Fatalf("login with next %q: %v", tt.next, err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || loc != tt.want {
				t.Errorf("login with next %q: got %d to %q, want 303 to %q", tt.next, resp.StatusCode, loc, tt.want)
			}
			if u, err := browserResolve(base, loc); err != nil || u.Host != base.Host {
				t.Errorf("login with next %q: a browser goes to %v (%v), want %s", tt.next, u, err, base.Host)
			}
		})
	}
}
