package console_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// price is what each reservation of these tests counts.
const price = money.Cents(1170)

// capsOn reads the caps of every tenant and of the account from b as the
// daemon does, beside ledger numbers of its own: the spend page's
// dependency on real buckets.
func capsOn(b *budget.Budgets, now time.Time, ledger ...console.TenantSpend) func(context.Context) (*console.Spend, error) {
	return func(ctx context.Context) (*console.Spend, error) {
		s := &console.Spend{}
		day, month, err := b.Usage(ctx, budget.Account(), now)
		if err != nil {
			return nil, err
		}
		s.Account = console.Counted{Day: day, Month: month}
		for _, t := range ledger {
			day, month, err := b.Usage(ctx, budget.Tenant(t.Tenant), now)
			if err != nil {
				return nil, err
			}
			t.Caps = console.Counted{Day: day, Month: month}
			s.Tenants = append(s.Tenants, t)
		}
		return s, nil
	}
}

// budgetsOf are the caps and their usage on h's buckets.
func budgetsOf(t *testing.T, h *pipetest.Harness) *budget.Budgets {
	t.Helper()
	b, err := budget.New(h.Res.Budgets, h.Res.BudgetUsage, budget.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reserve counts n submissions of tenant at price against the caps.
func reserve(t *testing.T, b *budget.Budgets, tenant string, n int, now time.Time) {
	t.Helper()
	for i := range n {
		if _, err := b.Reserve(context.Background(), tenant, tenant+"-"+string(rune('a'+i)), price, now); err != nil {
			t.Fatal(err)
		}
	}
}

// getSpend returns the spend page's body.
func (s *site) getSpend(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.url + "/spend")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /spend: got %d, want 200:\n%s", resp.StatusCode, b)
	}
	return string(b)
}

var (
	rowRE = regexp.MustCompile(`(?s)<tr[^>]*>.*?</tr>`)
	tagRE = regexp.MustCompile(`<[^>]+>`)
	wsRE  = regexp.MustCompile(`\s+`)
)

// capCell is the text of the cap code's cell in the row marked by row
// (`data-tenant="acme"`, `id="spend-account"`), or "no cell".
func capCell(page, row, code string) string {
	for _, tr := range rowRE.FindAllString(page, -1) {
		if !strings.Contains(tr, row) {
			continue
		}
		_, rest, ok := strings.Cut(tr, `data-cap="`+code+`">`)
		if !ok {
			return "no cell"
		}
		td, _, _ := strings.Cut(rest, "</td>")
		return strings.TrimSpace(wsRE.ReplaceAllString(tagRE.ReplaceAllString(td, " "), " "))
	}
	return "no row"
}

type cellWant struct{ row, code, want string }

func checkCells(t *testing.T, page string, want []cellWant) {
	t.Helper()
	for _, w := range want {
		if got := capCell(page, w.row, w.code); got != w.want {
			t.Errorf("%s %s: got %q, want %q", w.row, w.code, got, w.want)
		}
	}
}

const (
	acme    = `data-tenant="acme"`
	globex  = `data-tenant="globex"`
	account = `id="spend-account"`
)

// TestSpendShowsEveryCap: a tenant's request caps, the account's caps in
// their own row with every tenant's spend, what counted against each, a
// reached cap marked, and "—" where no cap is set.
func TestSpendShowsEveryCap(t *testing.T) {
	h := pipetest.New(t)
	b, now, ctx := budgetsOf(t, h), time.Now(), context.Background()
	if err := b.Set(ctx, budget.Tenant("acme"), budget.Caps{DailyRequests: 2, MonthlyRequests: 10}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, budget.Account(), budget.Caps{DailyEUR: 10000, MonthlyRequests: 50}); err != nil {
		t.Fatal(err)
	}
	reserve(t, b, "acme", 2, now)
	reserve(t, b, "globex", 1, now)
	s := newSite(t, h, "", capsOn(b, now,
		console.TenantSpend{Tenant: "acme", TodayEUR: 1170, MonthEUR: 4680, TodayRequests: 1, MonthRequests: 4},
		console.TenantSpend{Tenant: "globex", MonthEUR: 1170, MonthRequests: 1}))
	page := s.getSpend(t)
	checkCells(t, page, []cellWant{
		{acme, "tenant_day_requests", "2 of 2 reached 2 in flight"},
		{acme, "tenant_month_requests", "2 of 10 2 in flight"},
		{acme, "tenant_day_eur", "—"},
		{acme, "tenant_month_eur", "—"},
		{globex, "tenant_day_requests", "—"},
		{account, "account_day_eur", "€ 35.10 of € 100.00 3 in flight"},
		{account, "account_month_requests", "3 of 50 3 in flight"},
		{account, "account_day_requests", "—"},
		{account, "account_month_eur", "—"},
	})
	for _, want := range []string{"account (all tenants)", "€ 58.50", "€ 11.70", "counted of cap", "spent (ledger)"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
}

// TestSpendMarksAHoldingCap: a euro cap with room left, but less than the
// price of the submission it holds, is marked reached, with what is left,
// a tenant's and the account's; the submissions held for money are
// counted, per tenant and for the account: not those held for their
// tenant's fair share of the upstream budget, nor queued behind those
// alone.
func TestSpendMarksAHoldingCap(t *testing.T) {
	h := pipetest.New(t)
	b, now, ctx := budgetsOf(t, h), time.Now(), context.Background()
	if err := b.Set(ctx, budget.Tenant("acme"), budget.Caps{DailyEUR: 3000}); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, budget.Account(), budget.Caps{MonthlyEUR: 3000}); err != nil {
		t.Fatal(err)
	}
	reserve(t, b, "acme", 2, now)
	tenantDay := &budget.OverBudgetError{Scope: budget.Tenant("acme"), Period: budget.PeriodDay, Unit: budget.UnitEUR}
	accountMonth := &budget.OverBudgetError{Scope: budget.Account(), Period: budget.PeriodMonth, Unit: budget.UnitEUR}
	store := record.NewStore(h.Res.Records)
	for i, held := range []struct{ tenant, code string }{{"acme", tenantDay.Code()}, {"acme", "queued"}, {"globex", accountMonth.Code()},
		{"acme", publisher.HeldFairShare}, {"initech", publisher.HeldFairShare}, {"initech", publisher.HeldQueued}} {
		rec := &record.Record{Tenant: held.tenant, ID: "held-" + string(rune('a'+i)), State: overview.StateHeld, Generation: 1,
			Created: now.Add(time.Duration(i) * time.Second), Errors: []publisher.Problem{{Code: held.code, Message: "held"}}}
		if _, err := store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	s := newSite(t, h, "", capsOn(b, now, console.TenantSpend{Tenant: "acme"}))
	pipetest.WaitFor(t, 10*time.Second, "the overview to see the held submissions", func() bool {
		return s.ov.List(overview.Query{State: overview.StateHeld}).Total == 6
	})
	page := s.getSpend(t)
	if strings.Contains(page, `data-tenant="initech"`) {
		t.Errorf("a tenant held only for its fair share has a row:\n%s", page)
	}
	const short = "reached € 6.60 left: less than the held submission's price 2 in flight"
	checkCells(t, page, []cellWant{
		{acme, "tenant_day_eur", "€ 23.40 of € 30.00 " + short},
		{account, "account_month_eur", "€ 23.40 of € 30.00 " + short},
		{account, "account_day_eur", "—"},
		{globex, "tenant_month_eur", "—"}, // listed for its held submission, without caps
	})
	for _, want := range []string{`href="/open?state=held&amp;tenant=acme">2</a>`, `href="/open?state=held&amp;tenant=globex">1</a>`,
		`href="/open?state=held">3</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the held submissions are not shown: no %s in\n%s", want, page)
		}
	}
}

// TestSpendWithoutCaps: with no cap anywhere the page renders, every cap
// "—", nothing marked; with the caps off it says so.
func TestSpendWithoutCaps(t *testing.T) {
	tests := []struct {
		name    string
		off     bool
		cell    string
		notice  bool
		tenants []console.TenantSpend
	}{
		{name: "no caps", cell: "—", tenants: []console.TenantSpend{{Tenant: "acme", MonthEUR: 1170, MonthRequests: 1}}},
		{name: "no caps, no spend", cell: "—"},
		{name: "caps off", off: true, cell: "off", notice: true, tenants: []console.TenantSpend{{Tenant: "acme"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := pipetest.New(t)
			s := newSite(t, h, "", func(context.Context) (*console.Spend, error) {
				return &console.Spend{Tenants: tt.tenants, CapsOff: tt.off}, nil
			})
			page := s.getSpend(t)
			rows := []string{account}
			if len(tt.tenants) > 0 {
				rows = append(rows, acme)
			}
			for _, row := range rows {
				for _, scope := range []string{"tenant", "account"} {
					if (row == account) != (scope == "account") {
						continue
					}
					for _, c := range []string{"_day_eur", "_day_requests", "_month_eur", "_month_requests"} {
						checkCells(t, page, []cellWant{{row, scope + c, tt.cell}})
					}
				}
			}
			if strings.Contains(page, `class="reached"`) {
				t.Error("a cap is marked reached on a page without caps")
			}
			if got := strings.Contains(page, `id="caps-off"`); got != tt.notice {
				t.Errorf("caps-off notice: got %v, want %v", got, tt.notice)
			}
		})
	}
}

// TestSpendMarksTheCapThatHoldsNow: a held submission's record names the
// cap that held it, and keeps it after that cap is raised; the page marks
// the cap that refuses its price now (the account's, whose room is less
// than the price), and none when every cap has room for it (the next
// holds pass sends it). Before, the raised cap stayed marked reached, with
// room left "less than the held submission's price", and the cap that held
// it was not marked.
func TestSpendMarksTheCapThatHoldsNow(t *testing.T) {
	tenantMonth := (&budget.OverBudgetError{Scope: budget.Tenant("acme"), Period: budget.PeriodMonth, Unit: budget.UnitRequests}).Code()
	tests := []struct {
		name    string
		account budget.Caps
		want    []cellWant
		reached bool
	}{
		{name: "another cap holds it", account: budget.Caps{DailyEUR: 4000}, reached: true, want: []cellWant{
			{acme, tenantMonth, "3 of 5 3 in flight"},
			{account, "account_day_eur", "€ 35.10 of € 40.00 reached € 4.90 left: less than the held submission's price 3 in flight"},
		}},
		{name: "every cap has room", account: budget.Caps{DailyEUR: 5000}, want: []cellWant{
			{acme, tenantMonth, "3 of 5 3 in flight"},
			{account, "account_day_eur", "€ 35.10 of € 50.00 3 in flight"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := pipetest.New(t)
			b, now, ctx := budgetsOf(t, h), time.Now(), context.Background()
			if err := b.Set(ctx, budget.Tenant("acme"), budget.Caps{MonthlyRequests: 3}); err != nil {
				t.Fatal(err)
			}
			reserve(t, b, "acme", 3, now)
			held := price.Euros()
			rec := &record.Record{Tenant: "acme", ID: "held-a", State: overview.StateHeld, Generation: 1, Created: now, Price: &held,
				Errors: []publisher.Problem{{Code: tenantMonth, Message: "held"}}}
			if _, err := record.NewStore(h.Res.Records).Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			// The operator raises the tenant's cap; the account's is set.
			if err := b.Set(ctx, budget.Tenant("acme"), budget.Caps{MonthlyRequests: 5}); err != nil {
				t.Fatal(err)
			}
			if err := b.Set(ctx, budget.Account(), tt.account); err != nil {
				t.Fatal(err)
			}
			s := newSite(t, h, "", capsOn(b, now, console.TenantSpend{Tenant: "acme"}))
			pipetest.WaitFor(t, 10*time.Second, "the overview to see the held submission", func() bool {
				return s.ov.List(overview.Query{State: overview.StateHeld}).Total == 1
			})
			page := s.getSpend(t)
			checkCells(t, page, tt.want)
			if got := strings.Contains(page, `class="reached"`); got != tt.reached {
				t.Errorf("a cap marked reached: got %v, want %v", got, tt.reached)
			}
		})
	}
}

// TestSpendMarksAPausedScope: a paused tenant's row says paused, another
// tenant's does not; the account's row says so while the account is.
func TestSpendMarksAPausedScope(t *testing.T) {
	h := pipetest.New(t)
	b, now, ctx := budgetsOf(t, h), time.Now(), context.Background()
	if err := b.Pause(ctx, budget.Tenant("acme")); err != nil {
		t.Fatal(err)
	}
	s := newSite(t, h, "", capsOn(b, now, console.TenantSpend{Tenant: "acme"}, console.TenantSpend{Tenant: "globex"}))
	paused := func(page, row string) bool {
		for _, tr := range rowRE.FindAllString(page, -1) {
			if strings.Contains(tr, row) {
				return strings.Contains(tr, `class="bad paused">paused<`)
			}
		}
		t.Fatalf("no row %s", row)
		return false
	}
	page := s.getSpend(t)
	if !paused(page, acme) || paused(page, globex) || paused(page, account) {
		t.Errorf("acme paused: the rows say acme %v, globex %v, account %v; want only acme's",
			paused(page, acme), paused(page, globex), paused(page, account))
	}
	if err := b.Pause(ctx, budget.Account()); err != nil {
		t.Fatal(err)
	}
	if page := s.getSpend(t); !paused(page, account) {
		t.Error("the account paused: its row does not say so")
	}
}
