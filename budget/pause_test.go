package budget_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/iseed-dev/iseed/budget"
)

// TestPause: a paused tenant reserves nothing (a *PausedError naming it,
// code tenant_paused, nothing counted) while another goes on; the account's
// pause stops every tenant; Set, Delete and a caps file applied keep a
// pause, which only Resume ends; the default tenant caps are never paused.
func TestPause(t *testing.T) {
	b, _ := newBudgets(t)
	ctx := context.Background()
	now := at(t, "2026-03-05 10:00")
	if err := b.Set(ctx, budget.Tenant("acme"), budget.Caps{DailyRequests: 5}); err != nil {
		t.Fatal(err)
	}
	if err := b.Pause(ctx, budget.Tenant("acme")); err != nil {
		t.Fatal(err)
	}
	var paused *budget.PausedError
	_, err := b.Reserve(ctx, "acme", "s1", price, now)
	if !errors.As(err, &paused) || paused.Code() != "tenant_paused" || paused.Scope != budget.Tenant("acme") {
		t.Fatalf("Reserve of a paused tenant: %v; want a *PausedError of tenant:acme, code tenant_paused", err)
	}
	if err := b.Allows(ctx, "acme", price, now); !errors.As(err, &paused) {
		t.Errorf("Allows of a paused tenant: %v; want a *PausedError", err)
	}
	if _, err := b.Reserve(ctx, "globex", "s1", price, now); err != nil {
		t.Errorf("Reserve of another tenant: %v", err)
	}
	if err := b.Allows(ctx, "globex", price, now); err != nil {
		t.Errorf("Allows of another tenant: %v; want nil", err)
	}
	day, _, err := b.Usage(ctx, budget.Tenant("acme"), now)
	if err != nil || day.Requests != 0 || !day.Paused {
		t.Errorf("acme's usage after a paused Reserve: %+v, %v; want nothing counted, and paused", day, err)
	}

	// Caps set, removed, or applied from a file keep the pause.
	if err := b.Set(ctx, budget.Tenant("acme"), budget.Caps{MonthlyRequests: 9}); err != nil {
		t.Fatal(err)
	}
	if c, err := b.Get(ctx, budget.Tenant("acme")); err != nil || c != (budget.Caps{MonthlyRequests: 9, Paused: true}) {
		t.Errorf("caps after Set on a paused tenant: %+v, %v; want the new caps, still paused", c, err)
	}
	if err := b.Delete(ctx, budget.Tenant("acme")); err != nil {
		t.Fatal(err)
	}
	f, err := budget.ParseFile(strings.NewReader(`{"tenants": {"acme": {"daily_eur": 100}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ctx, f); err != nil {
		t.Fatal(err)
	}
	if c, err := b.Get(ctx, budget.Tenant("acme")); err != nil || c != (budget.Caps{DailyEUR: 10000, Paused: true}) {
		t.Errorf("caps after Delete and a file: %+v, %v; want the file's, still paused", c, err)
	}
	if l, err := b.List(ctx); err != nil || len(l) != 1 || !l[0].Caps.Paused {
		t.Errorf("List: %+v, %v; want acme, paused", l, err)
	}

	if err := b.Resume(ctx, budget.Tenant("acme")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, "acme", "s1", price, now); err != nil {
		t.Errorf("Reserve after Resume: %v", err)
	}
	if c, err := b.Get(ctx, budget.Tenant("acme")); err != nil || c != (budget.Caps{DailyEUR: 10000}) {
		t.Errorf("caps after Resume: %+v, %v; want the file's, not paused", c, err)
	}

	// The account's pause holds every tenant, and says so, not the tenant.
	if err := b.Pause(ctx, budget.Account()); err != nil {
		t.Fatal(err)
	}
	if got, err := b.PausedScopes(ctx); err != nil || len(got) != 1 || got[0] != "account" {
		t.Errorf("PausedScopes with the account paused: %q, %v; want [account]", got, err)
	}
	for _, tenant := range []string{"acme", "globex", "initech"} {
		_, err := b.Reserve(ctx, tenant, "s2", price, now)
		if !errors.As(err, &paused) || paused.Code() != "account_paused" {
			t.Errorf("Reserve of %s with the account paused: %v; want code account_paused", tenant, err)
		}
	}
	if err := b.Resume(ctx, budget.Account()); err != nil {
		t.Fatal(err)
	}
	if c, err := b.Get(ctx, budget.Account()); err != nil || !c.IsZero() {
		t.Errorf("the account's caps after its pause ended: %+v, %v; want none (the key gone)", c, err)
	}
	if _, err := b.Reserve(ctx, "initech", "s2", price, now); err != nil {
		t.Errorf("Reserve after the account resumed: %v", err)
	}
	// Paused again over the key its resume deleted (a delete marker).
	if err := b.Pause(ctx, budget.Account()); err != nil {
		t.Fatalf("Pause of the account after its key was deleted: %v", err)
	}
	if c, err := b.Get(ctx, budget.Account()); err != nil || c != (budget.Caps{Paused: true}) {
		t.Errorf("the account paused again: %+v, %v", c, err)
	}
	if err := b.Resume(ctx, budget.Account()); err != nil {
		t.Fatal(err)
	}

	if err := b.Pause(ctx, budget.TenantDefault()); !errors.Is(err, budget.ErrDefaultNotPaused) {
		t.Errorf("Pause of the default tenant caps: %v; want ErrDefaultNotPaused", err)
	}
	// A pause of the default tenant caps, written by hand, pauses nobody.
	if err := b.Set(ctx, budget.TenantDefault(), budget.Caps{DailyRequests: 50}); err != nil {
		t.Fatal(err)
	}
	if _, err := budget.ParseFile(strings.NewReader(`{"tenants": {"acme": {"paused": true}}}`)); err == nil ||
		!strings.Contains(err.Error(), "iseed budget pause") {
		t.Errorf("a caps file that pauses: %v; want it refused, naming iseed budget pause", err)
	}
}

// TestPauseSurvivesConcurrentSets: a pause made while other replicas set
// the same tenant's caps (a caps file applied as each starts) is kept:
// every change is a compare-and-set of the caps it read.
func TestPauseSurvivesConcurrentSets(t *testing.T) {
	b, srv := newBudgets(t)
	ctx := context.Background()
	others := []*budget.Budgets{replica(t, srv), replica(t, srv), replica(t, srv)}
	var wg sync.WaitGroup
	for i, o := range others {
		wg.Go(func() {
			for n := range 30 {
				if err := o.Set(ctx, budget.Tenant("acme"), budget.Caps{DailyRequests: int64(100*i + n + 1)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 10 {
		if err := b.Pause(ctx, budget.Tenant("acme")); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	if c, err := b.Get(ctx, budget.Tenant("acme")); err != nil || !c.Paused {
		t.Errorf("caps after sets racing a pause: %+v, %v; want paused", c, err)
	}
}
