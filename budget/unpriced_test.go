package budget_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/budget"
)

// TestAllowsUnpriced: an unknown price cannot be counted against a euro
// cap, so any euro cap that applies to the tenant (its own, the default
// tenant caps', the account's) refuses it, with no amount in the error;
// request caps, or none, let it pass.
func TestAllowsUnpriced(t *testing.T) {
	b, _ := newBudgets(t)
	ctx := context.Background()
	check := func(what string, want *budget.UnpricedError) {
		t.Helper()
		err := b.AllowsUnpriced(ctx, "acme")
		var got *budget.UnpricedError
		switch {
		case want == nil && err != nil:
			t.Errorf("%s: got %v, want nil", what, err)
		case want == nil:
		case !errors.As(err, &got) || *got != *want:
			t.Errorf("%s: got %v, want %+v", what, err, *want)
		case got.Code() != budget.CodeUnknownPrice || errors.Is(err, budget.ErrOverBudget) || strings.ContainsAny(err.Error(), "0123456789"):
			t.Errorf("%s: %v (code %s): want unknown_price, no over-budget error, no amount", what, err, got.Code())
		}
	}
	check("no caps", nil)
	set(t, b, budget.Tenant("acme"), budget.Caps{DailyRequests: 5, MonthlyRequests: 50})
	set(t, b, budget.Account(), budget.Caps{MonthlyRequests: 500})
	check("request caps", nil)
	set(t, b, budget.Account(), budget.Caps{MonthlyEUR: 100_000})
	check("the account's monthly euro cap", &budget.UnpricedError{Scope: budget.Account(), Period: budget.PeriodMonth})
	set(t, b, budget.TenantDefault(), budget.Caps{MonthlyEUR: 50_000})
	check("the default tenant caps' monthly euro cap", &budget.UnpricedError{Scope: budget.Tenant("acme"), Period: budget.PeriodMonth})
	set(t, b, budget.Tenant("acme"), budget.Caps{DailyEUR: 100_000})
	check("its own daily euro cap", &budget.UnpricedError{Scope: budget.Tenant("acme"), Period: budget.PeriodDay})
	if err := b.AllowsUnpriced(ctx, "a.b"); err == nil || errors.As(err, new(*budget.UnpricedError)) {
		t.Errorf("invalid tenant: got %v, want an error", err)
	}
}
