package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/publisher"
)

// buildOverview makes the materialised view of the pipeline the console,
// the gauges and iseed top read.
func (d *daemon) buildOverview(limit float64) error {
	var err error
	d.overview, err = overview.New(overview.Config{OverdueAfter: d.cfg.overdueSpan(), Refresh: d.cfg.overviewRefresh, Logger: d.log, Now: d.clock.Now}, overview.Deps{
		Resources: d.res,
		Gauges: func() overview.Gauges {
			return overview.Gauges{BreakerOpen: d.pipeline.BreakerOpen(), CallsPerSecond: d.calls.PerSecond(), RateLimit: limit}
		},
		SpendToday: d.spendToday,
		Connected:  d.conn.nc.IsConnected,
		Paused:     d.pipeline.Paused,
	})
	if err != nil {
		return err
	}
	return d.overview.Register(d.metrics)
}

// spendToday is the euros the ledger has for today (Europe/Rome): the
// running total of the ledger's follower (actor "spend today"), so that
// the overview's refresh reads nothing.
func (d *daemon) spendToday(context.Context) (float64, error) {
	_, total, err := d.money.today.Total()
	if err != nil {
		return 0, err
	}
	return total.Euros(), nil
}

// mountConsole serves the web console on the admin listener, and runs it
// with the daemon, unless console.Check refuses (a non-loopback address
// without ISEED_CONSOLE_TOKEN): then the daemon runs without it and says
// why.
func (d *daemon) mountConsole(mux *http.ServeMux, replayKey []byte) {
	if err := console.Check(d.cfg.HTTPListen, d.cfg.ConsoleToken); err != nil {
		d.log.Warn().Err(err).Str("component", "console").Msg("web console not served")
		return
	}
	proxies, err := console.ParseTrustedProxies(d.cfg.ConsoleProxies) // validated with the configuration
	if err != nil {
		d.log.Warn().Err(err).Str("component", "console").Msg("web console not served")
		return
	}
	c, err := console.New(console.Config{Listen: d.cfg.HTTPListen, Token: d.cfg.ConsoleToken, Hosts: d.cfg.ConsoleHosts,
		TrustedProxies: proxies, Logger: d.log, Now: d.clock.Now}, console.Deps{
		Overview:    d.overview,
		DeadLetters: dlq.NewQueue(d.js, d.res, replayKey, consumer.ReplayMsgID(d.res.Layout)),
		Resources:   d.res, JS: d.js, Spend: d.spendByTenant,
	})
	if err != nil {
		d.log.Warn().Err(err).Str("component", "console").Msg("web console not served")
		return
	}
	c.Register(mux)
	// It learns the sessions logged out on every replica, and accepts
	// none before.
	d.extra = append(d.extra, actor{"console", c.Run})
}

// spendByTenant is this month's and today's spend per tenant, from the
// ledger, with the caps of every tenant and of the account and what
// counted against them, for the console.
func (d *daemon) spendByTenant(ctx context.Context) (*console.Spend, error) {
	now := d.clock.Now()
	by, order, err := d.ledgerSpend(ctx, now)
	if err != nil {
		return nil, err
	}
	out := &console.Spend{CapsOff: d.money.budgets == nil}
	if d.money.budgets != nil {
		if out.Account, err = d.counted(ctx, budget.Account(), now); err != nil {
			return nil, err
		}
		settings, err := d.money.budgets.List(ctx)
		if err != nil {
			return nil, err
		}
		withDefault := false
		for _, st := range settings {
			if st.Scope.IsAccount() {
				continue
			}
			if st.Scope.Default {
				withDefault = true
				continue
			}
			s := by[st.Scope.Tenant]
			if s == nil {
				s = &console.TenantSpend{Tenant: st.Scope.Tenant}
				by[s.Tenant] = s
				order = append(order, s.Tenant)
			}
			if s.Caps, err = d.counted(ctx, st.Scope, now); err != nil {
				return nil, err
			}
		}
		// The default tenant caps apply to every tenant without caps of
		// its own: those the ledger has get their counts too, and so do
		// those with held submissions (a default cap may hold a tenant
		// that has spent nothing yet).
		if withDefault {
			by, order = d.withHeldTenants(by, order)
		}
		for _, t := range order {
			if s := by[t]; withDefault && s.Caps == (console.Counted{}) {
				if s.Caps, err = d.counted(ctx, budget.Tenant(t), now); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, t := range order {
		out.Tenants = append(out.Tenants, *by[t])
	}
	return out, nil
}

// withHeldTenants adds to by and order the tenants with submissions held
// for money (a cap, a pause) that they lack, with nothing spent.
func (d *daemon) withHeldTenants(by map[string]*console.TenantSpend, order []string) (map[string]*console.TenantSpend, []string) {
	for _, r := range d.overview.List(overview.Query{State: overview.StateHeld, Limit: overview.NoLimit}).Requests {
		if by[r.Tenant] == nil && publisher.HeldForMoney(r.HeldCode) {
			by[r.Tenant] = &console.TenantSpend{Tenant: r.Tenant}
			order = append(order, r.Tenant)
		}
	}
	return by, order
}

// counted is what scope counted against its caps today and this month.
func (d *daemon) counted(ctx context.Context, s budget.Scope, now time.Time) (console.Counted, error) {
	day, month, err := d.money.budgets.Usage(ctx, s, now)
	if err != nil {
		return console.Counted{}, fmt.Errorf("the caps of %s: %w", s, err)
	}
	return console.Counted{Day: day, Month: month}, nil
}

// ledgerSpend is what the ledger has of each tenant this month and today
// (Europe/Rome), and the tenants in the order it has them: one read of the
// month's entries, summed as they come (ledger.Ledger.Visit), for both.
func (d *daemon) ledgerSpend(ctx context.Context, now time.Time) (map[string]*console.TenantSpend, []string, error) {
	loc, err := d.dayZone()
	if err != nil {
		return nil, nil, err
	}
	month, today := money.Month(now, loc), money.Day(now, loc)
	var monthly, daily ledger.Summary
	err = d.money.ledger.Visit(ctx, month.From, month.To, "", func(e ledger.Entry) {
		monthly.Add(e)
		if today.Contains(e.At) {
			daily.Add(e)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	by := map[string]*console.TenantSpend{}
	var order []string
	for _, p := range []struct {
		lines []ledger.Line
		today bool
	}{{monthly.Lines(), false}, {daily.Lines(), true}} {
		for _, l := range p.lines {
			s := by[l.Tenant]
			if s == nil {
				s = &console.TenantSpend{Tenant: l.Tenant}
				by[l.Tenant] = s
				order = append(order, l.Tenant)
			}
			if p.today {
				s.TodayEUR += l.Amount
				s.TodayRequests += int64(l.Requests)
			} else {
				s.MonthEUR += l.Amount
				s.MonthRequests += int64(l.Requests)
			}
		}
	}
	return by, order, nil
}
