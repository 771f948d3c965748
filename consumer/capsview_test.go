package consumer

import (
	"errors"
	"testing"

	"github.com/iseed-dev/iseed/budget"
)

func put(scope budget.Scope, c budget.Caps) budget.CapsEvent {
	return budget.CapsEvent{Scope: scope, Caps: c}
}
func del(scope budget.Scope) budget.CapsEvent { return budget.CapsEvent{Scope: scope} }
func unreadable(scope budget.Scope) budget.CapsEvent {
	return budget.CapsEvent{Scope: scope, Err: errors.New("unexpected end of JSON input")}
}

var synced = budget.CapsEvent{Synced: true}

// TestCapsView: the view says "no cap applies" only once the whole bucket
// was delivered, and only when neither the tenant nor the account has a
// cap; anything it cannot read counts as a cap. (budget.TestFollowCaps
// shows how the bucket's entries become these events.)
func TestCapsView(t *testing.T) {
	acme, other := budget.Tenant("acme"), budget.Tenant("other")
	tests := []struct {
		name   string
		events []budget.CapsEvent
		tenant string
		want   bool
	}{
		{"nothing delivered yet", nil, "acme", false},
		{"initial values still coming", []budget.CapsEvent{put(other, budget.Caps{DailyEUR: 100})}, "acme", false},
		{"empty bucket", []budget.CapsEvent{synced}, "acme", true},
		{"another tenant's cap", []budget.CapsEvent{put(other, budget.Caps{DailyEUR: 100}), synced}, "acme", true},
		{"the tenant's cap", []budget.CapsEvent{put(acme, budget.Caps{DailyRequests: 5}), synced}, "acme", false},
		{"the account's cap", []budget.CapsEvent{put(budget.Account(), budget.Caps{MonthlyEUR: 100}), synced}, "acme", false},
		{"a cap set after the start", []budget.CapsEvent{synced, put(acme, budget.Caps{DailyEUR: 1})}, "acme", false},
		{"a cap deleted", []budget.CapsEvent{put(acme, budget.Caps{DailyEUR: 1}), synced, del(acme)}, "acme", true},
		{"a cap set to zero", []budget.CapsEvent{put(budget.Account(), budget.Caps{DailyEUR: 1}), synced, put(budget.Account(), budget.Caps{})}, "acme", true},
		{"a value that cannot be read", []budget.CapsEvent{synced, unreadable(budget.Account())}, "acme", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newCapsView(nil)
			for _, e := range tt.events {
				v.apply(e)
			}
			if got := v.uncapped(tt.tenant); got != tt.want {
				t.Errorf("uncapped(%q): got %v, want %v", tt.tenant, got, tt.want)
			}
			v.forget()
			if v.uncapped(tt.tenant) {
				t.Errorf("after forget: uncapped, want the view to know nothing")
			}
		})
	}
	var none *capsView
	if none.uncapped("acme") {
		t.Errorf("no view: uncapped, want every submission to reserve")
	}
}
