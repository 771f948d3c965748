package budget_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/money"
)

// TestReserveNeverExceedsCapAcrossReplicas runs 500 concurrent Reserves
// through three Budgets, each on its own NATS connection as three iseed
// replicas would, against a cap that admits 100: exactly 100 succeed,
// every other one is refused as over budget, and nothing of a refused
// reservation stays counted. A second wave of the same 500 (redeliveries)
// admits the same 100 again without counting anything more.
func TestReserveNeverExceedsCapAcrossReplicas(t *testing.T) {
	const calls, admitted = 500, 100
	tests := []struct {
		name    string
		tenants int
		caps    map[budget.Scope]budget.Caps
		tight   budget.Scope // the scope whose cap binds
	}{
		{"tenant daily requests", 1,
			map[budget.Scope]budget.Caps{budget.Tenant("t0"): {DailyRequests: admitted}}, budget.Tenant("t0")},
		{"account monthly euros across five tenants", 5,
			map[budget.Scope]budget.Caps{budget.Account(): {MonthlyEUR: admitted * price}}, budget.Account()},
		{"tenant monthly euros under a looser account cap", 1,
			map[budget.Scope]budget.Caps{budget.Tenant("t0"): {MonthlyEUR: admitted * price},
				budget.Account(): {DailyRequests: 2 * admitted}}, budget.Tenant("t0")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := natstest.Run(t)
			replicas := []*budget.Budgets{replica(t, srv), replica(t, srv), replica(t, srv)}
			for s, c := range tt.caps {
				set(t, replicas[0], s, c)
			}
			now := at(t, "2026-03-05 10:00")
			first := wave(t, replicas, calls, tt.tenants, now)
			if len(first) != admitted {
				t.Fatalf("first wave: %d reservations succeeded, want %d", len(first), admitted)
			}
			second := wave(t, replicas, calls, tt.tenants, now)
			if len(second) != admitted {
				t.Errorf("second wave: %d succeeded, want %d", len(second), admitted)
			}
			for id := range first {
				if !second[id] {
					t.Errorf("second wave refused %s, admitted by the first", id)
				}
			}
			checkCounted(t, replicas[1], tt.tenants, now, admitted)
		})
	}
}

// wave runs n concurrent Reserves spread over replicas and tenants and
// returns the submissions admitted. Any error but over budget fails.
func wave(t *testing.T, replicas []*budget.Budgets, n, tenants int, now time.Time) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		mu  sync.Mutex
		ok  = map[string]bool{}
		wg  sync.WaitGroup
		bad []error
	)
	for i := range n {
		wg.Go(func() {
			tenant, id := fmt.Sprintf("t%d", i%tenants), fmt.Sprintf("s%03d", i)
			r, err := replicas[i%len(replicas)].Reserve(ctx, tenant, id, price, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && r.Amount == price:
				ok[tenant+"."+id] = true
			case err == nil:
				bad = append(bad, fmt.Errorf("%s: reserved %s, want %s", id, r.Amount, price))
			case !errors.Is(err, budget.ErrOverBudget):
				bad = append(bad, fmt.Errorf("%s: %w", id, err))
			}
		})
	}
	wg.Wait()
	for _, err := range bad {
		t.Error(err)
	}
	return ok
}

// checkCounted checks that the account and the tenants together counted
// exactly the admitted reservations, all still held.
func checkCounted(t *testing.T, b *budget.Budgets, tenants int, now time.Time, admitted int64) {
	t.Helper()
	var requests int64
	for i := range tenants {
		_, m := usage(t, b, budget.Tenant(fmt.Sprintf("t%d", i)), now)
		requests += m.Requests
		if m.Spent != price*money.Cents(m.Requests) || m.Held != int(m.Requests) {
			t.Errorf("tenant t%d: got %s for %d requests, %d held; want %s each, all held", i, m.Spent, m.Requests, m.Held, price)
		}
	}
	day, month := usage(t, b, budget.Account(), now)
	if requests != admitted || month.Requests != admitted || day.Requests != admitted || month.Spent != price*money.Cents(admitted) {
		t.Errorf("counted: tenants %d, account day %d, month %d requests and %s; want %d and %s",
			requests, day.Requests, month.Requests, month.Spent, admitted, price*money.Cents(admitted))
	}
}
