package console

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// Spend is what the spend page shows (Deps.Spend): what each tenant spent
// by the ledger, and the caps of each tenant and of the account, with what
// counted against each.
type Spend struct {
	// Tenants are every tenant the ledger has this month and every tenant
	// with caps.
	Tenants []TenantSpend
	// Account are the account's caps: they apply to all tenants together.
	Account Counted
	// CapsOff is ISEED_SPENDING_CAPS=false: nothing is counted or held,
	// and the caps are not read.
	CapsOff bool
}

// TenantSpend is what one tenant spent, by the ledger, and its own caps.
type TenantSpend struct {
	Tenant        string
	TodayEUR      money.Cents // the ledger's entries of today (Europe/Rome)
	MonthEUR      money.Cents // and of this month
	TodayRequests int64
	MonthRequests int64
	Caps          Counted
}

// Counted are one scope's caps and what counted against them today and
// this month, as budget.Budgets.Usage returns them and `iseed budget show`
// prints them (with whether an operator paused the scope, `iseed budget
// pause`). The zero value has no caps.
type Counted struct{ Day, Month budget.Usage }

// maxHoldReads bounds the held records one page reads to find the caps
// that hold them.
const maxHoldReads = 50

func (c *Console) spend(w http.ResponseWriter, r *http.Request) {
	if c.d.Spend == nil {
		c.render(w, r, http.StatusOK, "spend", "Spend", spendData{})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	s, err := c.d.Spend(ctx)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "The spend cannot be read right now: "+err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "spend", "Spend", spendPage(s, c.holds(ctx)))
}

type spendData struct {
	Configured bool
	CapsOff    bool
	Rows       []spendRow
	Account    spendRow // the account's caps and every tenant's spend
}

// spendRow is one row of the spend table: a tenant, or the account.
type spendRow struct {
	Tenant        string // "" for the account
	TodayEUR      money.Cents
	MonthEUR      money.Cents
	TodayRequests int64
	MonthRequests int64
	Held          int       // submissions held now
	Paused        bool      // an operator paused it: every submission is held
	Caps          []capCell // daily €, daily requests, monthly €, monthly requests
}

// capCell is one cap of a row and what counted against it.
type capCell struct {
	Code     string // as a held submission's error names it: tenant_day_eur, …
	Set      bool
	Counted  string
	Limit    string
	Left     string
	InFlight int  // reservations counted and neither committed nor released
	Reached  bool // what counted is at the cap: nothing more fits
	Holding  bool // a held submission waits for this cap
	Off      bool // ISEED_SPENDING_CAPS=false
}

// Full reports whether the cap holds submissions: reached, or a held
// submission does not fit in what is left.
func (c capCell) Full() bool { return c.Reached || c.Holding }

// moneyHolds counts each tenant's held submissions that wait for money: a
// cap's or a pause's code (publisher.HeldForMoney), and those queued behind
// older holds of a tenant that has some. Held for their tenant's fair
// share of the upstream budget (publisher.HeldFairShare), or queued behind
// such holds alone, they wait for turns, not money: the spend page leaves
// them out (the overview counts every held one, by code).
func moneyHolds(reqs []overview.Request) map[string]int {
	money, queued := make(map[string]int), make(map[string]int)
	for _, r := range reqs {
		switch {
		case r.HeldCode == publisher.HeldQueued:
			queued[r.Tenant]++
		case publisher.HeldForMoney(r.HeldCode):
			money[r.Tenant]++
		}
	}
	for tenant, n := range money {
		money[tenant] = n + queued[tenant]
	}
	return money
}

// held is what the overview knows of the submissions held for money.
type held struct {
	byTenant map[string]int // moneyHolds
	total    int
	oldest   map[string]heldCap // each tenant's oldest submission a cap holds
}

// heldCap is a submission a cap holds, as its record says.
type heldCap struct {
	code  string       // the cap that held it: tenant_day_eur, account_month_requests, …
	price *money.Cents // its price; nil when the record does not say
}

func spendPage(s *Spend, h held) spendData {
	d := spendData{Configured: true, CapsOff: s.CapsOff}
	holding := holdingCaps(s, h)
	seen := make(map[string]bool)
	for _, t := range s.Tenants {
		seen[t.Tenant] = true
		row := spendRow{Tenant: t.Tenant, TodayEUR: t.TodayEUR, MonthEUR: t.MonthEUR, TodayRequests: t.TodayRequests,
			MonthRequests: t.MonthRequests, Held: h.byTenant[t.Tenant], Paused: t.Caps.Month.Paused}
		row.Caps = capCells(budget.Tenant(t.Tenant), t.Caps, holding, s.CapsOff)
		d.Rows = append(d.Rows, row)
		d.Account.TodayEUR += t.TodayEUR
		d.Account.MonthEUR += t.MonthEUR
		d.Account.TodayRequests += t.TodayRequests
		d.Account.MonthRequests += t.MonthRequests
	}
	for tenant, n := range h.byTenant { // held by the account's caps alone
		if !seen[tenant] {
			d.Rows = append(d.Rows, spendRow{Tenant: tenant, Held: n, Caps: capCells(budget.Tenant(tenant), Counted{}, nil, s.CapsOff)})
		}
	}
	slices.SortFunc(d.Rows, func(a, b spendRow) int {
		return cmp.Or(cmp.Compare(b.MonthEUR, a.MonthEUR), cmp.Compare(a.Tenant, b.Tenant))
	})
	d.Account.Held = h.total
	d.Account.Paused = s.Account.Month.Paused
	d.Account.Caps = capCells(budget.Account(), s.Account, holding, s.CapsOff)
	return d
}

// holdingCaps are the caps that hold each tenant's oldest held submission
// now: "<tenant>:<code>" of tenant caps, "<code>" of account caps. Its
// record names the cap that held it, which may not be the one that holds
// it now: raised since, that cap lets it pass while another (the
// account's) keeps it held, and the holds pass, which leaves the record as
// it is, does not send it. So a submission whose price its record keeps
// (the one its last delivery asked the caps for, which the pass asks them
// again) marks the first cap that refuses that price now, as
// Budgets.Allows asks them, and none when every cap has room (the next
// pass sends it); only one whose price is unknown marks the cap its
// record names.
func holdingCaps(s *Spend, h held) map[string]bool {
	counted := make(map[string]Counted, len(s.Tenants))
	for _, t := range s.Tenants {
		counted[t.Tenant] = t.Caps
	}
	out := make(map[string]bool)
	for tenant, hc := range h.oldest {
		key := hc.code
		if !strings.HasPrefix(key, "account_") {
			key = tenant + ":" + key
		}
		if hc.price != nil {
			key = refusing(tenant, counted[tenant], s.Account, *hc.price)
		}
		if key != "" {
			out[key] = true
		}
	}
	return out
}

// refusing is the key (as holdingCaps makes them) of the first cap that
// one more request of price would exceed, as budget.Budgets.Allows asks
// them (the tenant's scope, then the account's; budget.Refuses within
// each); "" when none would.
func refusing(tenant string, own, account Counted, price money.Cents) string {
	for _, sc := range []struct {
		scope  budget.Scope
		c      Counted
		prefix string
	}{{budget.Tenant(tenant), own, tenant + ":"}, {budget.Account(), account, ""}} {
		if period, unit, ok := budget.Refuses(sc.c.Day, sc.c.Month, price); ok {
			return sc.prefix + (&budget.OverBudgetError{Scope: sc.scope, Period: period, Unit: unit}).Code()
		}
	}
	return ""
}

// capCells are the four caps of scope, in the table's order; off, they
// only say so.
func capCells(scope budget.Scope, c Counted, holding map[string]bool, off bool) []capCell {
	prefix := ""
	if !scope.IsAccount() {
		prefix = scope.Tenant + ":"
	}
	var out []capCell
	for _, p := range []struct {
		period string
		u      budget.Usage
	}{{budget.PeriodDay, c.Day}, {budget.PeriodMonth, c.Month}} {
		for _, unit := range []string{budget.UnitEUR, budget.UnitRequests} {
			code := (&budget.OverBudgetError{Scope: scope, Period: p.period, Unit: unit}).Code()
			cell := capCell{Off: true}
			if !off {
				cell = newCapCell(p.u, unit)
				cell.Holding = cell.Set && holding[prefix+code]
			}
			cell.Code = code
			out = append(out, cell)
		}
	}
	return out
}

// newCapCell is the cap of u in unit, with what counted against it.
func newCapCell(u budget.Usage, unit string) capCell {
	limit, counted, show := u.CapRequests, u.Requests, func(v int64) string { return strconv.FormatInt(v, 10) }
	if unit == budget.UnitEUR {
		limit, counted, show = int64(u.CapEUR), int64(u.Spent), func(v int64) string { return "€ " + money.Cents(v).String() }
	}
	if limit <= 0 {
		return capCell{}
	}
	return capCell{Set: true, Counted: show(counted), Limit: show(limit), Left: show(max(limit-counted, 0)),
		InFlight: u.Held, Reached: counted >= limit}
}

// holds counts the submissions held for money by tenant (moneyHolds), and
// reads the oldest held records of each tenant that a cap holds (up to
// maxHoldReads in all) for the first it can: its error code names the
// cap, and its price what the caps must make room for (a tenant's newer
// held submissions wait behind it, with the code "queued").
func (c *Console) holds(ctx context.Context) held {
	h := held{oldest: make(map[string]heldCap)}
	p := c.d.Overview.List(overview.Query{State: overview.StateHeld, Limit: overview.NoLimit})
	h.byTenant = moneyHolds(p.Requests)
	first := make(map[string][]string) // each tenant's ids held by a cap, oldest first
	var tenants []string
	for _, req := range p.Requests {
		if !strings.HasPrefix(req.HeldCode, "account_") && !strings.HasPrefix(req.HeldCode, "tenant_") {
			continue
		}
		if len(first[req.Tenant]) == 0 {
			tenants = append(tenants, req.Tenant)
		}
		first[req.Tenant] = append(first[req.Tenant], req.ID)
	}
	for _, n := range h.byTenant {
		h.total += n
	}
	store := record.NewStore(c.d.Resources.Records)
	reads := 0
	for _, tenant := range tenants {
		for _, id := range first[tenant] {
			if reads == maxHoldReads {
				return h
			}
			reads++
			rec, _, err := store.Get(ctx, tenant, id)
			if err != nil || rec.State != overview.StateHeld || len(rec.Errors) == 0 {
				continue
			}
			if code := rec.Errors[0].Code; strings.HasPrefix(code, "account_") || strings.HasPrefix(code, "tenant_") {
				hc := heldCap{code: code}
				if rec.Price != nil {
					if p, err := money.FromFloat(*rec.Price); err == nil {
						hc.price = &p
					}
				}
				h.oldest[tenant] = hc
				break
			}
		}
	}
	return h
}
