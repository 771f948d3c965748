package budget_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/money"
)

// TestReserve runs sequences of Reserves against caps and checks which
// pass and which cap refuses the others.
func TestReserve(t *testing.T) {
	type step struct {
		tenant, id string
		amount     money.Cents
		at         string // Rome wall clock
		code       string // the refusing cap's Code, "" when it passes
		used       int64  // OverBudgetError.Used
	}
	tests := []struct {
		name  string
		caps  map[budget.Scope]budget.Caps
		steps []step
	}{
		{"no caps", nil, []step{
			{"acme", "s1", 1e7, "2026-03-05 10:00", "", 0},
		}},
		{"tenant daily euros", map[budget.Scope]budget.Caps{budget.Tenant("acme"): {DailyEUR: 2500}}, []step{
			{"acme", "s1", 1170, "2026-03-05 10:00", "", 0},
			{"acme", "s2", 1170, "2026-03-05 11:00", "", 0},
			{"acme", "s3", 1170, "2026-03-05 12:00", "tenant_day_eur", 2340},
			{"other", "s3", 1170, "2026-03-05 12:00", "", 0},
			{"acme", "s3", 160, "2026-03-05 12:00", "", 0},  // exactly the cap
			{"acme", "s4", 1170, "2026-03-06 00:00", "", 0}, // Rome midnight: a new day
		}},
		{"account monthly requests across tenants", map[budget.Scope]budget.Caps{budget.Account(): {MonthlyRequests: 2}}, []step{
			{"acme", "s1", 1170, "2026-03-01 00:00", "", 0},
			{"beta", "s1", 1170, "2026-03-31 23:59", "", 0},
			{"gamma", "s1", 1170, "2026-03-31 23:59", "account_month_requests", 2},
			{"gamma", "s1", 1170, "2026-04-01 00:00", "", 0},
		}},
		{"tenant monthly cap binds before the account's daily", map[budget.Scope]budget.Caps{
			budget.Tenant("acme"): {MonthlyEUR: 1170}, budget.Account(): {DailyRequests: 1}}, []step{
			{"acme", "s1", 1170, "2026-03-05 10:00", "", 0},
			{"acme", "s2", 1170, "2026-03-05 10:00", "tenant_month_eur", 1170},
			{"beta", "s2", 1170, "2026-03-05 10:00", "account_day_requests", 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBudgets(t)
			for s, c := range tt.caps {
				set(t, b, s, c)
			}
			for i, s := range tt.steps {
				r, err := b.Reserve(context.Background(), s.tenant, s.id, s.amount, at(t, s.at))
				var over *budget.OverBudgetError
				switch {
				case s.code == "" && err != nil:
					t.Errorf("step %d: got %v, want a reservation", i, err)
				case s.code == "" && (r.Amount != s.amount || r.Day != s.at[:10]):
					t.Errorf("step %d: got %+v, want %s on %s", i, r, s.amount, s.at[:10])
				case s.code != "" && !errors.As(err, &over):
					t.Errorf("step %d: got %v, %v; want over budget %s", i, r, err, s.code)
				case s.code != "" && (over.Code() != s.code || over.Used != s.used || !errors.Is(err, budget.ErrOverBudget)):
					t.Errorf("step %d: got %s used %d, want %s used %d", i, over.Code(), over.Used, s.code, s.used)
				}
			}
		})
	}
}

func TestOverBudgetError(t *testing.T) {
	b, _ := newBudgets(t)
	set(t, b, budget.Tenant("acme"), budget.Caps{DailyEUR: 2000})
	now := at(t, "2026-03-29 10:00") // the day clocks go forward
	if _, err := b.Reserve(context.Background(), "acme", "s1", 1170, now); err != nil {
		t.Fatal(err)
	}
	_, err := b.Reserve(context.Background(), "acme", "s2", 1170, now)
	var over *budget.OverBudgetError
	if !errors.As(err, &over) {
		t.Fatalf("got %v, want *OverBudgetError", err)
	}
	want := budget.OverBudgetError{Scope: budget.Tenant("acme"), Period: budget.PeriodDay, Unit: budget.UnitEUR,
		Limit: 2000, Used: 1170, Asked: 1170, Until: at(t, "2026-03-30 00:00")}
	got := *over
	got.Until, want.Until = got.Until.UTC(), want.Until.UTC()
	if got != want {
		t.Errorf("got %+v, want %+v", *over, want)
	}
	if msg := "budget: tenant:acme daily cap of 20.00 EUR reached (11.70 used, 11.70 asked) until 2026-03-30T00:00:00+02:00"; err.Error() != msg {
		t.Errorf("got %q, want %q", err.Error(), msg)
	}
}

// TestReserveIdempotent: a redelivery after a crash reserves again and
// must count nothing more, even after midnight or the month's end.
func TestReserveIdempotent(t *testing.T) {
	tests := []struct {
		name         string
		first, again string
	}{
		{"same minute", "2026-03-05 10:00", "2026-03-05 10:00"},
		{"after midnight", "2026-03-05 23:59", "2026-03-06 00:01"},
		{"after the month's end", "2026-03-31 23:59", "2026-04-01 00:01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBudgets(t)
			ctx := context.Background()
			r1, err := b.Reserve(ctx, "acme", "s1", 1170, at(t, tt.first))
			if err != nil {
				t.Fatal(err)
			}
			r2, err := b.Reserve(ctx, "acme", "s1", 1600, at(t, tt.again)) // the price changed meanwhile
			if err != nil || r2 != r1 {
				t.Fatalf("again: got %+v, %v; want %+v", r2, err, r1)
			}
			for _, s := range []budget.Scope{budget.Tenant("acme"), budget.Account()} {
				_, first := usage(t, b, s, at(t, tt.first))
				if first.Requests != 1 || first.Spent != 1170 || first.Held != 1 {
					t.Errorf("%s: month of the first: %+v, want 1 request of 11.70 held", s, first)
				}
				if tt.first[:7] != tt.again[:7] {
					if _, later := usage(t, b, s, at(t, tt.again)); later.Requests != 0 {
						t.Errorf("%s: next month counted %+v, want nothing", s, later)
					}
				}
			}
			if r, ok, err := b.Lookup(ctx, "acme", "s1", at(t, tt.again)); err != nil || !ok || r != r1 {
				t.Errorf("Lookup: got %+v, %v, %v; want %+v", r, ok, err, r1)
			}
		})
	}
}

// TestReleaseAndCommit walks a reservation through its ends.
func TestReleaseAndCommit(t *testing.T) {
	b, _ := newBudgets(t)
	ctx := context.Background()
	now := at(t, "2026-03-05 10:00")
	set(t, b, budget.Tenant("acme"), budget.Caps{DailyRequests: 1})
	reserve := func(id string) (budget.Reservation, error) { return b.Reserve(ctx, "acme", id, 1170, now) }
	counted := func(step string, requests int64, held int) {
		t.Helper()
		for _, s := range []budget.Scope{budget.Tenant("acme"), budget.Account()} {
			day, month := usage(t, b, s, now)
			if day.Requests != requests || month.Requests != requests || month.Spent != money.Cents(requests)*1170 || month.Held != held || day.Held != held {
				t.Errorf("%s: %s: day %+v, month %+v; want %d requests, %d held", step, s, day, month, requests, held)
			}
		}
	}
	r1, err := reserve("s1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reserve("s2"); !errors.Is(err, budget.ErrOverBudget) {
		t.Fatalf("s2 before release: got %v, want over budget", err)
	}
	counted("reserved", 1, 1)
	for range 2 {
		if err := b.Release(ctx, r1); err != nil {
			t.Fatal(err)
		}
		counted("released", 0, 0)
	}
	if _, ok, err := b.Lookup(ctx, "acme", "s1", now); ok || err != nil {
		t.Errorf("Lookup after release: got %v, %v; want none", ok, err)
	}
	r2, err := reserve("s2")
	if err != nil {
		t.Fatalf("s2 after release: %v", err)
	}
	for range 2 {
		if err := b.Commit(ctx, r2); err != nil {
			t.Fatal(err)
		}
		counted("committed", 1, 0)
	}
	if err := b.Release(ctx, r2); err != nil {
		t.Fatal(err)
	}
	counted("release after commit", 1, 0)
	if err := b.Release(ctx, budget.Reservation{Tenant: "acme", SubmissionID: "never", Amount: 5, Day: "2026-03-05"}); err != nil {
		t.Errorf("release of nothing: %v", err)
	}
	counted("release of nothing", 1, 0)
}

// TestAccountRefusalGivesBackTheTenant: when the account's cap refuses a
// reservation the tenant's allowed, nothing stays counted for the tenant.
func TestAccountRefusalGivesBackTheTenant(t *testing.T) {
	b, _ := newBudgets(t)
	ctx := context.Background()
	now := at(t, "2026-03-05 10:00")
	set(t, b, budget.Account(), budget.Caps{DailyEUR: 1500})
	if _, err := b.Reserve(ctx, "acme", "s1", 1170, now); err != nil {
		t.Fatal(err)
	}
	_, err := b.Reserve(ctx, "beta", "s1", 1170, now)
	var over *budget.OverBudgetError
	if !errors.As(err, &over) || over.Scope != budget.Account() {
		t.Fatalf("got %v, want the account's cap", err)
	}
	if _, m := usage(t, b, budget.Tenant("beta"), now); m.Requests != 0 || m.Held != 0 || m.Spent != 0 {
		t.Errorf("beta: got %+v, want nothing counted", m)
	}
}

// TestRomePeriods: 23:30 UTC on the last day of March is April in Rome.
func TestRomePeriods(t *testing.T) {
	b, _ := newBudgets(t)
	now := time.Date(2026, 3, 31, 23, 30, 0, 0, time.UTC)
	r, err := b.Reserve(context.Background(), "acme", "s1", 1170, now)
	if err != nil || r.Day != "2026-04-01" {
		t.Fatalf("got %+v, %v; want a reservation on 2026-04-01", r, err)
	}
	day, april := usage(t, b, budget.Account(), now)
	_, march := usage(t, b, budget.Account(), now.Add(-2*time.Hour)) // 23:30 on March 31 in Rome
	if april.Requests != 1 || march.Requests != 0 || day.Requests != 1 {
		t.Errorf("got March %d, April %d, day %d requests; want 0, 1, 1", march.Requests, april.Requests, day.Requests)
	}
	if want := at(t, "2026-04-01 00:00"); !day.Period.From.Equal(want) || !april.Period.From.Equal(want) {
		t.Errorf("periods start %v and %v, want %v", day.Period.From, april.Period.From, want)
	}
}

func TestReserveRefusesBadInput(t *testing.T) {
	b, _ := newBudgets(t)
	now := at(t, "2026-03-05 10:00")
	for _, in := range []struct {
		tenant, id string
		amount     money.Cents
	}{{"", "s1", 1}, {"acme", "", 1}, {"a.b", "s1", 1}, {"acme", "s 1", 1}, {"acme", "s1", -1}} {
		if _, err := b.Reserve(context.Background(), in.tenant, in.id, in.amount, now); err == nil || errors.Is(err, budget.ErrOverBudget) {
			t.Errorf("Reserve(%q, %q, %d): got %v, want an input error", in.tenant, in.id, in.amount, err)
		}
	}
}

func TestAllows(t *testing.T) {
	b, _ := newBudgets(t)
	ctx := context.Background()
	now := at(t, "2026-03-05 10:00")
	set(t, b, budget.Tenant("acme"), budget.Caps{MonthlyRequests: 1})
	if err := b.Allows(ctx, "acme", 1170, now); err != nil {
		t.Fatalf("empty: got %v, want nil", err)
	}
	if _, err := b.Reserve(ctx, "acme", "s1", 1170, now); err != nil {
		t.Fatal(err)
	}
	var over *budget.OverBudgetError
	if err := b.Allows(ctx, "acme", 1170, now); !errors.As(err, &over) || over.Code() != "tenant_month_requests" || !over.Until.Equal(at(t, "2026-04-01 00:00")) {
		t.Errorf("full: got %v, want the monthly request cap until April", err)
	}
	if err := b.Allows(ctx, "acme", 1170, at(t, "2026-04-01 00:00")); err != nil {
		t.Errorf("next month: got %v, want nil", err)
	}
	set(t, b, budget.Tenant("acme"), budget.Caps{MonthlyRequests: 2})
	if err := b.Allows(ctx, "acme", 1170, now); err != nil {
		t.Errorf("raised: got %v, want nil", err)
	}
	if _, m := usage(t, b, budget.Tenant("acme"), now); m.Requests != 1 {
		t.Errorf("Allows counted: %+v", m)
	}
}

// TestRefusesAsAllows: Refuses, given what Usage reports, names the cap
// Allows refuses, for every combination of caps the state is near: the
// console's spend page marks the cap that holds a submission with it.
func TestRefusesAsAllows(t *testing.T) {
	b, _ := newBudgets(t)
	ctx := context.Background()
	now := at(t, "2026-03-05 10:00")
	for _, id := range []string{"s1", "s2"} {
		if _, err := b.Reserve(ctx, "acme", id, 1000, now); err != nil {
			t.Fatal(err)
		}
	}
	// Counted: 2 requests, € 20 on the day and in the month. Each cap is
	// off, full for one more € 10 request, or with room for it.
	eur := []money.Cents{0, 2500, 3000}
	reqs := []int64{0, 2, 3}
	refused := 0
	for _, de := range eur {
		for _, me := range eur {
			for _, dr := range reqs {
				for _, mr := range reqs {
					caps := budget.Caps{DailyEUR: de, MonthlyEUR: me, DailyRequests: dr, MonthlyRequests: mr}
					set(t, b, budget.Tenant("acme"), caps)
					day, month := usage(t, b, budget.Tenant("acme"), now)
					period, unit, hit := budget.Refuses(day, month, 1000)
					var over *budget.OverBudgetError
					err := b.Allows(ctx, "acme", 1000, now)
					switch {
					case err == nil && hit:
						t.Errorf("%+v: Refuses %s %s, Allows passes", caps, period, unit)
					case err != nil && !errors.As(err, &over):
						t.Fatalf("%+v: Allows: %v", caps, err)
					case err != nil && (!hit || over.Period != period || over.Unit != unit):
						t.Errorf("%+v: Allows refuses with %s, Refuses says %q %q %v", caps, over.Code(), period, unit, hit)
					}
					if hit {
						refused++
					}
				}
			}
		}
	}
	if refused == 0 || refused == 81 {
		t.Errorf("%d of 81 combinations refused: the grid does not test the order", refused)
	}
}

// TestOverBudgetErrorCountsRequests: a cap on requests names them in the
// singular when it is one ("daily cap of 1 request", not "1 requests").
func TestOverBudgetErrorCountsRequests(t *testing.T) {
	until := time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		limit int64
		want  string
	}{
		{1, "budget: tenant:acme daily cap of 1 request reached (1 used, 1 asked) until 2026-03-06T00:00:00Z"},
		{5, "budget: tenant:acme daily cap of 5 requests reached (5 used, 1 asked) until 2026-03-06T00:00:00Z"},
	} {
		e := &budget.OverBudgetError{Scope: budget.Tenant("acme"), Period: budget.PeriodDay, Unit: budget.UnitRequests,
			Limit: tt.limit, Used: tt.limit, Asked: 1, Until: until}
		if got := e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}
