package console

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestSessions(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	a := newAuth("a-console-token-of-some-length", time.Hour, clock)
	good := a.newSession()
	tests := []struct {
		name  string
		auth  *auth
		value string
		at    time.Time
		ok    bool
	}{
		{"fresh", a, good, now, true},
		{"just before expiry", a, good, now.Add(time.Hour - time.Second), true},
		{"expired", a, good, now.Add(time.Hour), false},
		{"expiry moved", a, strings.Replace(good, ".", ".9", 1), now, false},
		{"MAC changed", a, good[:len(good)-2] + "AA", now, false},
		{"another token's", newAuth("another-token-of-some-length!!", time.Hour, clock), good, now, false},
		{"read-only console", newAuth("", time.Hour, clock), good, now, false},
		{"garbage", a, "v1..", now, false},
		{"empty", a, "", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.auth.now = func() time.Time { return tt.at }
			if got := tt.auth.sessionOK(tt.value); got != tt.ok {
				t.Errorf("got %v, want %v", got, tt.ok)
			}
		})
	}
}

func TestTokenOK(t *testing.T) {
	a := newAuth("a-console-token-of-some-length", time.Hour, time.Now)
	for _, tt := range []struct {
		s  string
		ok bool
	}{{"a-console-token-of-some-length", true}, {"a-console-token-of-some-lengtH", false}, {"a-console", false}, {"", false}} {
		if got := a.tokenOK(tt.s); got != tt.ok {
			t.Errorf("tokenOK(%q): got %v, want %v", tt.s, got, tt.ok)
		}
	}
	if newAuth("", time.Hour, time.Now).tokenOK("") {
		t.Error("a read-only console accepted the empty token")
	}
}

// TestLoginsLimited: after a burst of wrong tokens, logins are refused
// before the token is even compared.
func TestLoginsLimited(t *testing.T) {
	p, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	c := &Console{cfg: Config{Token: "a-console-token-of-some-length", Now: time.Now}, log: zerolog.Nop(), pages: p,
		auth: newAuth("a-console-token-of-some-length", time.Hour, time.Now)}
	c.logins = newLoginLimiter()
	var got []int
	for range 7 {
		r := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"token": {"wrong"}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		c.login(w, r)
		got = append(got, w.Code)
	}
	want := []int{401, 401, 401, 401, 401, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses: got %v, want %v", got, want)
		}
	}
}
