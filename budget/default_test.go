package budget_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/iseed-dev/iseed/budget"
)

// TestTenantDefaultCaps: the default tenant caps apply to every tenant
// that does not set that cap itself, one never seen before included, and
// each tenant counts against them on its own; a tenant's own cap replaces
// the default's of the same period and unit only.
func TestTenantDefaultCaps(t *testing.T) {
	b, _ := newBudgets(t)
	ctx := context.Background()
	set(t, b, budget.TenantDefault(), budget.Caps{DailyRequests: 1, MonthlyEUR: 3000})
	set(t, b, budget.Tenant("big"), budget.Caps{DailyRequests: 3})
	now := at(t, "2026-03-05 10:00")

	reserve := func(tenant, id string) error {
		t.Helper()
		_, err := b.Reserve(ctx, tenant, id, price, now)
		if err != nil && !errors.Is(err, budget.ErrOverBudget) {
			t.Fatalf("Reserve(%s, %s): %v", tenant, id, err)
		}
		return err
	}
	code := func(err error) string {
		var over *budget.OverBudgetError
		if errors.As(err, &over) {
			return over.Code() + " " + over.Scope.String()
		}
		return "passes"
	}
	for _, s := range []struct {
		tenant, id, want string
	}{
		{"new", "s1", "passes"},
		{"new", "s2", "tenant_day_requests tenant:new"}, // the default's daily request cap
		{"other", "s1", "passes"},                       // its own count, not new's
		{"big", "s1", "passes"},
		{"big", "s2", "passes"},                      // its own daily cap: 3
		{"big", "s3", "tenant_month_eur tenant:big"}, // the default's monthly € cap still applies: 2 × 11.70 + 11.70 > 30
	} {
		if got := code(reserve(s.tenant, s.id)); got != s.want {
			t.Errorf("%s %s: got %s, want %s", s.tenant, s.id, got, s.want)
		}
	}
	if err := b.Allows(ctx, "never-seen", price, now); err != nil {
		t.Errorf("Allows for a tenant never seen: %v, want nil", err)
	}
	if err := b.Allows(ctx, "new", price, now); !errors.Is(err, budget.ErrOverBudget) {
		t.Errorf("Allows for new after its default cap: %v, want over budget", err)
	}

	day, month := usage(t, b, budget.Tenant("big"), now)
	if day.CapRequests != 3 || month.CapEUR != 3000 || day.CapEUR != 0 || day.Requests != 2 {
		t.Errorf("usage of big: day %+v, month %+v; want its own daily request cap 3 and the default's monthly €30, 2 requests", day, month)
	}
	if _, _, err := b.Usage(ctx, budget.TenantDefault(), now); err == nil {
		t.Error("Usage of the default tenant caps: no error, want one (they count nothing of their own)")
	}
	want := []budget.Setting{
		{Scope: budget.TenantDefault(), Caps: budget.Caps{DailyRequests: 1, MonthlyEUR: 3000}},
		{Scope: budget.Tenant("big"), Caps: budget.Caps{DailyRequests: 3}},
	}
	if got, err := b.List(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("List: got %+v, %v; want %+v", got, err, want)
	}

	// Removed, the default caps hold nobody back.
	set(t, b, budget.TenantDefault(), budget.Caps{})
	if got := code(reserve("new", "s2")); got != "passes" {
		t.Errorf("new s2 after the default was removed: got %s, want passes", got)
	}
}
