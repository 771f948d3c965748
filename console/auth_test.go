package console

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestSessions(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	local := func() *revocations { return newRevocations(nil, nil, clock, zerolog.Nop()) }
	a := newAuth("a-console-token-of-some-length", time.Hour, clock, local())
	good := a.newSession()
	part := func(v string, i int, to string) string {
		p := strings.Split(v, ".")
		p[i] = to
		return strings.Join(p, ".")
	}
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	loggedOut := newAuth("a-console-token-of-some-length", time.Hour, clock, local())
	revoked := loggedOut.newSession()
	id, _, _ := loggedOut.parseSession(revoked)
	if err := loggedOut.revoked.revoke(context.Background(), id, now.Add(time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	unread := newAuth("a-console-token-of-some-length", time.Hour, clock, local())
	unread.revoked.synced = false // as a console whose Run has not read the bucket yet
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
		{"expiry moved", a, part(good, 2, "9"+exp), now, false},
		{"id changed", a, part(good, 1, "AAAAAAAAAAAAAAAAAAAAAAAAAA"), now, false},
		{"logged out", loggedOut, revoked, now, false},
		{"another session after a logout", loggedOut, loggedOut.newSession(), now, true},
		{"the logged-out sessions not read yet", unread, unread.newSession(), now, false},
		{"the former format", a, "v1." + exp + "." + a.mac("session", exp), now, false},
		{"MAC changed", a, changeMAC(good), now, false},
		{"another token's", newAuth("another-token-of-some-length!!", time.Hour, clock, local()), good, now, false},
		{"read-only console", newAuth("", time.Hour, clock, local()), good, now, false},
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
	a := newAuth("a-console-token-of-some-length", time.Hour, time.Now, nil)
	for _, tt := range []struct {
		s  string
		ok bool
	}{{"a-console-token-of-some-length", true}, {"a-console-token-of-some-lengtH", false}, {"a-console", false}, {"", false}} {
		if got := a.tokenOK(tt.s); got != tt.ok {
			t.Errorf("tokenOK(%q): got %v, want %v", tt.s, got, tt.ok)
		}
	}
	if newAuth("", time.Hour, time.Now, nil).tokenOK("") {
		t.Error("a read-only console accepted the empty token")
	}
}

// TestFailures: each address has its own burst of failures, refilled one a
// second.
func TestFailures(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f := newFailures(func() time.Time { return now })
	for i := range failBurst {
		if !f.allowed("192.0.2.1", "192.0.2.0/24") {
			t.Fatalf("attempt %d refused, want %d allowed", i+1, failBurst)
		}
		if got := f.fail("192.0.2.1", "192.0.2.0/24"); got != (i == failBurst-1) {
			t.Fatalf("fail %d: got exhausted %v, want %v", i+1, got, i == failBurst-1)
		}
	}
	tests := []struct {
		name  string
		after time.Duration
		src   string
		want  bool
	}{
		{"exhausted", 0, "192.0.2.1", false},
		{"another address", 0, "192.0.2.2", true},
		{"one more after a second", failEvery, "192.0.2.1", true},
	}
	for _, tt := range tests {
		now = now.Add(tt.after)
		if got := f.allowed(tt.src, "192.0.2.0/24"); got != tt.want {
			t.Errorf("%s: allowed(%s): got %v, want %v", tt.name, tt.src, got, tt.want)
		}
	}

}

// TestFailuresBounded: beyond failSources addresses, new ones share their
// group's limit, and idle ones are forgotten to make room, not the
// limited.
func TestFailuresBounded(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f := newFailures(func() time.Time { return now })
	for range failBurst {
		f.fail("192.0.2.1", "192.0.2.0/24")
	}
	for i := range failSources - 1 {
		f.fail("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), "10.0."+strconv.Itoa(i/256)+".0/24")
	}
	for range failBurst {
		f.fail("192.0.2.9", "192.0.2.0/24") // its group's
	}
	if got := len(f.bySource); got != failSources {
		t.Fatalf("tracked: got %d, want %d", got, failSources)
	}
	if f.allowed("192.0.2.2", "192.0.2.0/24") {
		t.Error("an untracked address while its group's limit is exhausted: allowed, want refused")
	}
	now = now.Add(failEvery) // the addresses that failed once are full again: idle
	if !f.allowed("192.0.2.2", "192.0.2.0/24") {
		t.Error("after the tracked went idle: refused, want allowed")
	}
	f.fail("192.0.2.3", "192.0.2.0/24")
	if got := len(f.bySource); got != 2 { // 192.0.2.1, still limited, and 192.0.2.3
		t.Errorf("tracked after forgetting the idle: got %d, want 2", got)
	}
}

// TestManySourcesLockNoOneElseOut: a stranger with more than failSources
// addresses (IPv6 /64s: a /52 holds 4096) who keeps each failing fills the
// table; their further addresses share their networks' limits, which they
// drain, but an operator in another network still has a limit of their
// own, and the stranger's next guesses stay limited. Only beyond
// failSources networks do all share one limit.
func TestManySourcesLockNoOneElseOut(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f := newFailures(func() time.Time { return now })
	stranger := func(i int) (string, string) {
		return fmt.Sprintf("2001:db8:%x:%x::/64", i/4096, i%4096), fmt.Sprintf("2001:db8:%x::/48", i/4096)
	}
	for i := range failSources + 10 {
		src, group := stranger(i)
		for range failBurst {
			f.fail(src, group)
		}
	}
	if !f.allowed("2001:db8:ffff:1::/64", "2001:db8:ffff::/48") {
		t.Error("an operator's address in another network, that never failed: refused, want allowed")
	}
	if src, group := stranger(failSources + 20); f.allowed(src, group) {
		t.Error("a new address of the stranger's network: allowed, want refused (its network's limit is drained)")
	}
}

// changeMAC changes one character inside a session value's MAC, always to
// another one. (Writing "AA" over its last two failed 1 run in 4,096,
// when the MAC ended in "AA" already; a middle character carries six
// bits, so any other is valid base64.)
func changeMAC(v string) string {
	i := len(v) - 3
	c := byte('A')
	if v[i] == c {
		c = 'B'
	}
	return v[:i] + string(c) + v[i+1:]
}
