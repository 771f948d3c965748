package consumer_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// TestAccountCapTellsATenantNothingOfOthers: the account's caps count
// every tenant's spending. A submission the account's cap holds is told
// which cap and until when, never the cap's amount or what was used:
// with two tenants, what was used less its own spending is the other
// tenant's.
func TestAccountCapTellsATenantNothingOfOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	price, _ := money.FromFloat(16) // ISEE 12 + urgency 4
	if err := b.Set(ctx, budget.Account(), budget.Caps{DailyEUR: price + price/2}); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b))
	theirs := pipetest.Submission("emp-globex", pipetest.ValidFields("Luigi"))
	h.publishAs("globex", theirs, msgIDOf("globex", theirs))
	pipetest.WaitFor(t, 10*time.Second, "globex's submission sent", func() bool {
		r, _, err := record.NewStore(h.Res.Records).Get(ctx, "globex", "emp-globex")
		return err == nil && r.State == record.StateSubmitted
	})
	h.Publish(pipetest.Submission("emp-acme", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-acme", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "acme's held event", func() bool {
		return slices.Contains(h.EventTypes("emp-acme"), "iseed.submission.held")
	})
	for _, ev := range h.Events("emp-acme") {
		var st publisher.Status
		if err := json.Unmarshal(ev.Data, &st); err != nil {
			t.Fatal(err)
		}
		for _, p := range st.Errors {
			if p.Code != "account_day_eur" {
				t.Errorf("held event: code %q, want account_day_eur", p.Code)
			}
			if strings.Contains(p.Message, (price+price/2).String()) || strings.Contains(p.Message, price.String()+" used") {
				t.Errorf("held event told acme %q: want neither the account's cap nor what it counted (globex's spending)", p.Message)
			}
		}
	}
}
