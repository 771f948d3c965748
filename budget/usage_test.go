package budget

import (
	"testing"

	"github.com/iseed-dev/iseed/money"
)

func TestCheck(t *testing.T) {
	u := &usage{}
	u.add("acme.a", hold{Cents: 1000, Day: "2026-03-05"})
	u.add("acme.b", hold{Cents: 500, Day: "2026-03-04"})
	tests := []struct {
		name   string
		day    string
		amount money.Cents
		caps   Caps
		want   limit
		hit    bool
	}{
		{"no caps", "2026-03-05", 1e6, Caps{}, limit{}, false},
		{"monthly eur reached exactly passes", "2026-03-05", 500, Caps{MonthlyEUR: 2000}, limit{}, false},
		{"monthly eur exceeded", "2026-03-05", 501, Caps{MonthlyEUR: 2000}, limit{PeriodMonth, UnitEUR, 2000, 1500}, true},
		{"monthly requests", "2026-03-06", 1, Caps{MonthlyRequests: 2}, limit{PeriodMonth, UnitRequests, 2, 2}, true},
		{"daily eur counts only that day", "2026-03-04", 500, Caps{DailyEUR: 1000}, limit{}, false},
		{"daily eur exceeded", "2026-03-05", 1, Caps{DailyEUR: 1000}, limit{PeriodDay, UnitEUR, 1000, 1000}, true},
		{"daily requests", "2026-03-05", 0, Caps{DailyRequests: 1}, limit{PeriodDay, UnitRequests, 1, 1}, true},
		{"a new day starts empty", "2026-03-06", 999, Caps{DailyEUR: 999, DailyRequests: 1}, limit{}, false},
		{"month before day", "2026-03-05", 1, Caps{DailyEUR: 1000, MonthlyRequests: 2}, limit{PeriodMonth, UnitRequests, 2, 2}, true},
	}
	for _, tt := range tests {
		got, hit := u.check(tt.day, tt.amount, tt.caps)
		if hit != tt.hit || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tt.name, got, hit, tt.want, tt.hit)
		}
	}
}

func TestReleaseAndCommit(t *testing.T) {
	u := &usage{}
	u.add("acme.a", hold{Cents: 1000, Day: "2026-03-05"})
	u.add("acme.b", hold{Cents: 500, Day: "2026-03-05"})
	u.add("acme.c", hold{Cents: 300, Day: "2026-03-06"})
	steps := []struct {
		name    string
		do      func() bool
		changed bool
		month   count
		days    map[string]count
		held    int
	}{
		{"release a", func() bool { return u.release("acme.a") }, true, count{800, 2},
			map[string]count{"05": {500, 1}, "06": {300, 1}}, 2},
		{"release a again", func() bool { return u.release("acme.a") }, false, count{800, 2},
			map[string]count{"05": {500, 1}, "06": {300, 1}}, 2},
		{"commit b stays counted", func() bool { return u.commit("acme.b") }, true, count{800, 2},
			map[string]count{"05": {500, 1}, "06": {300, 1}}, 1},
		{"release of committed b does nothing", func() bool { return u.release("acme.b") }, false, count{800, 2},
			map[string]count{"05": {500, 1}, "06": {300, 1}}, 1},
		{"release c empties its day", func() bool { return u.release("acme.c") }, true, count{500, 1},
			map[string]count{"05": {500, 1}}, 0},
		{"commit unknown", func() bool { return u.commit("acme.z") }, false, count{500, 1},
			map[string]count{"05": {500, 1}}, 0},
	}
	for _, s := range steps {
		if got := s.do(); got != s.changed {
			t.Errorf("%s: changed %v, want %v", s.name, got, s.changed)
		}
		if u.Month != s.month || len(u.Held) != s.held || len(u.Days) != len(s.days) {
			t.Errorf("%s: got month %+v, %d held, days %v; want %+v, %d, %v", s.name, u.Month, len(u.Held), u.Days, s.month, s.held, s.days)
		}
		for d, c := range s.days {
			if u.Days[d] != c {
				t.Errorf("%s: day %s = %+v, want %+v", s.name, d, u.Days[d], c)
			}
		}
	}
}

// TestCapsKeysRoundTrip: every scope's key in the caps bucket reads back
// as that scope (what the pipeline's caps view relies on), and no other
// key reads as a scope.
func TestCapsKeysRoundTrip(t *testing.T) {
	for _, s := range []Scope{Account(), TenantDefault(), Tenant("acme"), Tenant("a-b_c9"), Tenant("tenant_default")} {
		if got, ok := ScopeOfCapsKey(s.capsKey()); !ok || got != s {
			t.Errorf("ScopeOfCapsKey(%q) = %v, %v; want %v", s.capsKey(), got, ok, s)
		}
	}
	for _, k := range []string{"", "accounts", "tenant.", "tenant.a.b", "tenant.acme.2026-03", "other", "tenant_default.2026-03"} {
		if s, ok := ScopeOfCapsKey(k); ok {
			t.Errorf("ScopeOfCapsKey(%q) = %v, want no scope", k, s)
		}
	}
	c, err := DecodeCaps([]byte(`{"daily_eur":100}`))
	if err != nil || c.DailyEUR.Euros() != 100 || c.IsZero() {
		t.Errorf("DecodeCaps: %+v, %v", c, err)
	}
}

// TestDecodeCapsRefusesForeignValues: a value iseed did not write (an
// empty one, a server's answer stored by a reply subject, trailing data,
// a negative cap, a key in another case or given twice) is an error, which the caps view treats as a cap to
// reserve against; read as zero caps it would let every submission out.
func TestDecodeCapsRefusesForeignValues(t *testing.T) {
	for _, v := range []string{``, `{"stream":"ISEED_SUBMISSIONS","seq":1,"duplicate": true}`,
		`{"error":{"code":400,"err_code":10060}}`, `{"daily_eur":100} {}`, `{"daily_requests":-1}`, `null`,
		`{"DAILY_EUR":100}`, `{"daily_eur":100,"daily_eur":1}`} {
		if c, err := DecodeCaps([]byte(v)); err == nil {
			t.Errorf("DecodeCaps(%q) = %+v, nil; want an error", v, c)
		}
	}
}
