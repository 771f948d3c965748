package budget

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultTimeout bounds each KV operation when Config.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Config configures Budgets.
type Config struct {
	// Location separates days and months; nil means Europe/Rome.
	Location *time.Location
	// Timeout bounds each KV operation; zero means DefaultTimeout.
	Timeout time.Duration
}

// Budgets keeps caps and counts reservations against them in two KV
// buckets shared by every replica. It is safe for concurrent use.
type Budgets struct {
	caps, usage jetstream.KeyValue
	loc         *time.Location
	timeout     time.Duration

	mu     sync.Mutex
	queues map[string]*queue // changes waiting for a round, by usage key
}

// New returns Budgets over the caps and usage buckets (see EnsureBuckets).
func New(caps, usage jetstream.KeyValue, cfg Config) (*Budgets, error) {
	if caps == nil || usage == nil {
		return nil, errors.New("budget: the caps and usage buckets are required")
	}
	b := &Budgets{caps: caps, usage: usage, loc: cfg.Location, timeout: cfg.Timeout}
	if b.loc == nil {
		var err error
		if b.loc, err = money.Rome(); err != nil {
			return nil, err
		}
	}
	if b.timeout <= 0 {
		b.timeout = DefaultTimeout
	}
	b.queues = make(map[string]*queue)
	return b, nil
}

// Reservation is a price counted against the caps of a tenant and of the
// account, on one day.
type Reservation struct {
	Tenant       string      `json:"tenant"`
	SubmissionID string      `json:"submission_id"`
	Amount       money.Cents `json:"amount"`
	Day          string      `json:"day"` // "2006-01-02", the Rome day it counts on
}

func (r Reservation) key() string   { return r.Tenant + "." + r.SubmissionID }
func (r Reservation) month() string { return r.Day[:7] }

func (r Reservation) valid() error {
	if !record.ValidToken(r.Tenant) || !record.ValidToken(r.SubmissionID) {
		return fmt.Errorf("budget: invalid tenant or submission id %q", r.key())
	}
	if _, err := time.Parse(time.DateOnly, r.Day); err != nil {
		return fmt.Errorf("budget: reservation %s: day %q: %w", r.key(), r.Day, err)
	}
	return nil
}

// Reserve counts amount against every cap of tenant and of the account for
// the current day and month, before the POST that spends it. It returns
// an *OverBudgetError (errors.Is(err, ErrOverBudget)) naming the cap it
// would exceed, and then nothing of it stays counted.
//
// Reserve is idempotent per submission: while a reservation of tenant and
// submissionID is held (neither committed nor released), Reserve returns
// it as it was made (same amount, same day, even across midnight) and
// counts nothing more. Any other error leaves the reservation unknown:
// call Reserve again, or Release.
func (b *Budgets) Reserve(ctx context.Context, tenant, submissionID string, amount money.Cents, now time.Time) (Reservation, error) {
	r := Reservation{Tenant: tenant, SubmissionID: submissionID, Amount: amount, Day: now.In(b.loc).Format(time.DateOnly)}
	if err := r.valid(); err != nil {
		return Reservation{}, err
	}
	if amount < 0 {
		return Reservation{}, fmt.Errorf("budget: reservation %s: negative amount %s", r.key(), amount)
	}
	tenantCaps, accountCaps, err := b.capsOf(ctx, tenant)
	if err != nil {
		return Reservation{}, err
	}
	if err := paused(tenant, tenantCaps, accountCaps); err != nil {
		return Reservation{}, err
	}
	if prev, ok, err := b.held(ctx, Tenant(tenant), r.key(), b.previousMonth(now)); err != nil {
		return Reservation{}, err
	} else if ok {
		r = prev // made last month, before midnight: it counts there
	}
	if r, err = b.count(ctx, Tenant(tenant), r, tenantCaps); err != nil {
		return Reservation{}, err
	}
	if _, err := b.count(ctx, Account(), r, accountCaps); err != nil {
		if !errors.Is(err, ErrOverBudget) {
			return Reservation{}, err
		}
		if rerr := b.uncount(ctx, Tenant(tenant), r); rerr != nil {
			return Reservation{}, fmt.Errorf("budget: give back %s after the account refused it (%v): %w", r.key(), err, rerr)
		}
		return Reservation{}, err
	}
	return r, nil
}

// Release gives a reservation back: the POST it was made for definitely
// created nothing upstream (an answer saying no, before any charge). It is
// idempotent: releasing a reservation no longer held (released, committed,
// or never made) does nothing.
func (b *Budgets) Release(ctx context.Context, r Reservation) error {
	if err := r.valid(); err != nil {
		return err
	}
	// The account first: a reservation the account holds is always held
	// by its tenant too, which Reserve and Lookup rely on.
	if err := b.uncount(ctx, Account(), r); err != nil {
		return err
	}
	return b.uncount(ctx, Tenant(r.Tenant), r)
}

// Commit ends a reservation whose POST created a request (or may have):
// it stays counted, and the usage keys forget its id. After Commit, a
// Reserve of the same submission counts again: call Commit only once the
// submission's record holds its request, so that no redelivery reserves
// again. Commit is idempotent.
func (b *Budgets) Commit(ctx context.Context, r Reservation) error {
	if err := r.valid(); err != nil {
		return err
	}
	for _, s := range []Scope{Account(), Tenant(r.Tenant)} {
		if err := b.update(ctx, s.usageKey(r.month()), func(u *usage) bool { return u.commit(r.key()) }); err != nil {
			return err
		}
	}
	return nil
}

// Lookup finds the reservation held for a submission, made this month or
// the previous one; ok is false when there is none.
func (b *Budgets) Lookup(ctx context.Context, tenant, submissionID string, now time.Time) (r Reservation, ok bool, err error) {
	key := tenant + "." + submissionID
	for _, month := range []string{b.monthOf(now), b.previousMonth(now)} {
		if r, ok, err = b.held(ctx, Tenant(tenant), key, month); ok || err != nil {
			return r, ok, err
		}
	}
	return Reservation{}, false, nil
}

// count reserves r in scope's usage of r's month unless it would exceed
// caps; a reservation already held there is returned as it was made.
func (b *Budgets) count(ctx context.Context, s Scope, r Reservation, caps Caps) (Reservation, error) {
	var over *limit
	got := r
	err := b.update(ctx, s.usageKey(r.month()), func(u *usage) bool {
		over, got = nil, r
		if h, ok := u.Held[r.key()]; ok {
			got.Amount, got.Day = h.Cents, h.Day
			return false
		}
		if l, hit := u.check(r.Day, r.Amount, caps); hit {
			over = &l
			return false
		}
		u.add(r.key(), hold{Cents: r.Amount, Day: r.Day})
		return true
	})
	if err != nil {
		return Reservation{}, err
	}
	if over != nil {
		return Reservation{}, b.overBudget(s, *over, r)
	}
	return got, nil
}

func (b *Budgets) uncount(ctx context.Context, s Scope, r Reservation) error {
	return b.update(ctx, s.usageKey(r.month()), func(u *usage) bool { return u.release(r.key()) })
}

// held reads whether scope's usage of month holds the reservation key.
func (b *Budgets) held(ctx context.Context, s Scope, key, month string) (Reservation, bool, error) {
	u, _, err := b.load(ctx, s.usageKey(month))
	if err != nil {
		return Reservation{}, false, err
	}
	h, ok := u.Held[key]
	if !ok {
		return Reservation{}, false, nil
	}
	tenant, id := splitKey(key)
	return Reservation{Tenant: tenant, SubmissionID: id, Amount: h.Cents, Day: h.Day}, true, nil
}

// paused returns a *PausedError when the account or tenant is paused, the
// account first (it says the tenant is not singled out).
func paused(tenant string, tenantCaps, accountCaps Caps) error {
	switch {
	case accountCaps.Paused:
		return &PausedError{Scope: Account()}
	case tenantCaps.Paused:
		return &PausedError{Scope: Tenant(tenant)}
	}
	return nil
}

// capsOf reads the caps that apply to tenant (its own over the default
// tenant caps, cap by cap) and the account's.
func (b *Budgets) capsOf(ctx context.Context, tenant string) (Caps, Caps, error) {
	t, err := b.effective(ctx, Tenant(tenant))
	if err != nil {
		return Caps{}, Caps{}, err
	}
	a, err := b.Get(ctx, Account())
	return t, a, err
}

// effective returns the caps that apply to s: a tenant's own over the
// default tenant caps; the account's as set.
func (b *Budgets) effective(ctx context.Context, s Scope) (Caps, error) {
	c, err := b.Get(ctx, s)
	if err != nil || s.IsAccount() || s.Default {
		return c, err
	}
	def, err := b.Get(ctx, TenantDefault())
	if err != nil {
		return Caps{}, err
	}
	return c.Or(def), nil
}

func (b *Budgets) overBudget(s Scope, l limit, r Reservation) *OverBudgetError {
	day, _ := time.ParseInLocation(time.DateOnly, r.Day, b.loc)
	until := money.Day(day, b.loc).To
	if l.period == PeriodMonth {
		until = money.Month(day, b.loc).To
	}
	asked := int64(r.Amount)
	if l.unit == UnitRequests {
		asked = 1
	}
	return &OverBudgetError{Scope: s, Period: l.period, Unit: l.unit, Limit: l.cap, Used: l.used, Asked: asked, Until: until}
}

func (b *Budgets) monthOf(t time.Time) string { return t.In(b.loc).Format("2006-01") }

func (b *Budgets) previousMonth(t time.Time) string {
	return money.Month(t, b.loc).From.AddDate(0, 0, -1).Format("2006-01")
}

// splitKey splits "<tenant>.<id>"; neither contains a dot.
func splitKey(key string) (tenant, id string) {
	for i := 0; i < len(key); i++ {
		if key[i] == '.' {
			return key[:i], key[i+1:]
		}
	}
	return key, ""
}
