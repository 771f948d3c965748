package budget

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"

	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// Allows reports, without counting anything, whether a Reserve of amount
// for tenant would pass now: nil, or the *PausedError or *OverBudgetError
// it would return.
// It is the cheap check for resuming held submissions: call it when caps
// change (WatchCaps), when a period ends (OverBudgetError.Until), or on a
// timer (a Release frees room without any signal). Another replica may
// reserve in between: the Reserve that follows decides.
func (b *Budgets) Allows(ctx context.Context, tenant string, amount money.Cents, now time.Time) error {
	r := Reservation{Tenant: tenant, SubmissionID: "-", Amount: amount, Day: now.In(b.loc).Format(time.DateOnly)}
	scopes, err := b.scopesOf(ctx, tenant)
	if err != nil {
		return err
	}
	if err := paused(tenant, scopes[0].caps, scopes[1].caps); err != nil {
		return err
	}
	for _, sc := range scopes {
		u, _, err := b.load(ctx, sc.s.usageKey(r.month()))
		if err != nil {
			return err
		}
		if l, hit := u.check(r.Day, amount, sc.caps); hit {
			return b.overBudget(sc.s, l, r)
		}
	}
	return nil
}

// scopedCaps is a scope and its caps.
type scopedCaps struct {
	s    Scope
	caps Caps
}

// scopesOf returns the caps that apply to tenant's reservations, its own
// (or the default tenant caps) first, then the account's.
func (b *Budgets) scopesOf(ctx context.Context, tenant string) ([]scopedCaps, error) {
	if !record.ValidToken(tenant) {
		return nil, fmt.Errorf("budget: invalid tenant %q", tenant)
	}
	tenantCaps, accountCaps, err := b.capsOf(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return []scopedCaps{{Tenant(tenant), tenantCaps}, {Account(), accountCaps}}, nil
}

// AllowsUnpriced reports whether a reservation of an unknown price for
// tenant would pass now: nil when no euro cap applies to it (its own, the
// default tenant caps' or the account's), else an *UnpricedError naming
// one. Request caps are not its concern: such a reservation, made at the
// price known (0 for a service without one), counts one request as any.
func (b *Budgets) AllowsUnpriced(ctx context.Context, tenant string) error {
	scopes, err := b.scopesOf(ctx, tenant)
	if err != nil {
		return err
	}
	for _, sc := range scopes {
		switch {
		case sc.caps.DailyEUR > 0:
			return &UnpricedError{Scope: sc.s, Period: PeriodDay}
		case sc.caps.MonthlyEUR > 0:
			return &UnpricedError{Scope: sc.s, Period: PeriodMonth}
		}
	}
	return nil
}

// Usage is what a scope counted in one period, and its caps there.
type Usage struct {
	Period      money.Period `json:"period"`
	Spent       money.Cents  `json:"spent"`    // counted: committed and held
	Requests    int64        `json:"requests"` // counted: committed and held
	Held        int          `json:"held"`     // reservations neither committed nor released
	CapEUR      money.Cents  `json:"cap_eur,omitzero"`
	CapRequests int64        `json:"cap_requests,omitzero"`
	// Paused is the scope's pause (Pause), read with its caps; the same
	// in both periods. Not in the JSON: a scope's, not a period's.
	Paused bool `json:"-"`
}

// Usage returns what scope counted on the day and in the month of now,
// with the caps that apply to it (a tenant's own over the default tenant
// caps). Counted is an upper bound of what was spent: it includes
// reservations whose POST may still fail, and those a crash left held. The
// default tenant caps count nothing of their own: asking for their usage
// is an error.
func (b *Budgets) Usage(ctx context.Context, s Scope, now time.Time) (day, month Usage, err error) {
	if !s.valid() {
		return Usage{}, Usage{}, fmt.Errorf("budget: invalid scope %q", s)
	}
	if s.Default {
		return Usage{}, Usage{}, errors.New("budget: the default tenant caps count nothing of their own: each tenant counts against them")
	}
	caps, err := b.effective(ctx, s)
	if err != nil {
		return Usage{}, Usage{}, err
	}
	u, _, err := b.load(ctx, s.usageKey(b.monthOf(now)))
	if err != nil {
		return Usage{}, Usage{}, err
	}
	today := now.In(b.loc).Format(time.DateOnly)
	d := u.Days[dayOfMonth(today)]
	day = Usage{Period: money.Day(now, b.loc), Spent: d.Cents, Requests: d.Requests, CapEUR: caps.DailyEUR, CapRequests: caps.DailyRequests,
		Paused: caps.Paused}
	month = Usage{Period: money.Month(now, b.loc), Spent: u.Month.Cents, Requests: u.Month.Requests, Held: len(u.Held),
		CapEUR: caps.MonthlyEUR, CapRequests: caps.MonthlyRequests, Paused: caps.Paused}
	for _, h := range u.Held {
		if h.Day == today {
			day.Held++
		}
	}
	return day, month, nil
}

// WatchCaps calls fn with the scope of every cap change (Set, Delete,
// Apply) made after it starts, on any replica, until ctx is done; then it
// returns nil. fn runs on WatchCaps's goroutine: keep it short. It is the
// signal that held submissions may resume because a cap was raised or
// removed.
func (b *Budgets) WatchCaps(ctx context.Context, fn func(Scope)) error {
	return FollowCaps(ctx, b.caps, true, func(e CapsEvent) {
		if !e.Synced {
			fn(e.Scope)
		}
	})
}

// CapsEvent is one step of FollowCaps: a scope's caps as they now are
// (zero when deleted; Err when the stored value cannot be read), or, with
// Synced, the end of the caps the bucket held when the watch started.
type CapsEvent struct {
	Scope  Scope
	Caps   Caps
	Err    error
	Synced bool
}

// FollowCaps watches the caps bucket kv (what EnsureBuckets returns as
// caps) and calls fn with every cap it holds, then a Synced event, then
// every change, on fn's one goroutine, until ctx is done (nil) or the
// watch stops (an error: the caller watches again and knows nothing
// meanwhile). With updatesOnly, only changes made after it starts, and the
// Synced event at once. Keys that name no scope are skipped.
//
// A bucket deleted and made anew numbers its entries from 1 again, and the
// watch goes on after the old bucket's last revision: it would never
// deliver the new bucket's caps, and a cap set there would be bypassed.
// The watch therefore checks every bucket.Recheck, with one stream info, that
// the bucket is the one it began with, and stops when it is not.
//
// A watch whose consumer is lost while the connection stays up (the
// cluster node that held it failed; a restarted server the client
// reconnected to) is made again by nats.go only when it has missed the
// server's heartbeats, 10 to 20 s later, and delivers nothing meanwhile:
// a cap set then where none was would be bypassed. The same stream info
// therefore also says whether an entry was stored since the watch began
// that it has not delivered; when, bucket.KeepUp later, it still has not
// and has delivered nothing else, the watch stops (an error): a cap set is
// noticed within bucket.Recheck + bucket.KeepUp.
func FollowCaps(ctx context.Context, kv jetstream.KeyValue, updatesOnly bool, fn func(CapsEvent)) error {
	return followCaps(ctx, kv, updatesOnly, bucket.Recheck, fn)
}

// followCaps is FollowCaps checking the bucket every check.
func followCaps(ctx context.Context, kv jetstream.KeyValue, updatesOnly bool, every time.Duration, fn func(CapsEvent)) error {
	var opts []jetstream.WatchOpt
	if updatesOnly {
		opts = append(opts, jetstream.UpdatesOnly())
	}
	guard, err := bucket.Begin(ctx, kv, bucket.KeepUp)
	if err != nil {
		return fmt.Errorf("budget: watch caps: %w", err)
	}
	w, err := kv.WatchAll(ctx, opts...)
	if err != nil {
		return fmt.Errorf("budget: watch caps: %w", err)
	}
	defer w.Stop()
	if updatesOnly {
		fn(CapsEvent{Synced: true}) // the watcher sends no marker then
	}
	check := time.NewTicker(every)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-check.C:
			if err := guard.Check(ctx); err != nil {
				return fmt.Errorf("budget: watch caps: %w", err)
			}
		case <-guard.C():
			if err := guard.Lost(len(w.Updates())); err != nil {
				return fmt.Errorf("budget: watch caps: %w", err)
			}
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return errors.New("budget: watch caps: the watcher stopped")
			}
			if e == nil {
				fn(CapsEvent{Synced: true})
				continue
			}
			guard.Delivered(e.Revision())
			s, ok := ScopeOfCapsKey(e.Key())
			if !ok {
				continue
			}
			ev := CapsEvent{Scope: s}
			if e.Operation() == jetstream.KeyValuePut {
				ev.Caps, ev.Err = DecodeCaps(e.Value())
			}
			fn(ev)
		}
	}
}
