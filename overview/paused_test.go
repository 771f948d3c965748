package overview_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/overview"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TestPausedScopes: the scopes an operator paused, as a running
// pipeline's view of the caps has them, are in the snapshot, its table
// (iseed top) and the iseed_paused_scopes gauge; resumed, they are gone
// and the gauge is 0.
func TestPausedScopes(t *testing.T) {
	h := pipetest.New(t)
	b, err := budget.New(h.Res.Budgets, h.Res.BudgetUsage, budget.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Budget = b }))
	o := newOverview(t, h, overview.Deps{Paused: h.Pipeline.Paused})
	reg := prometheus.NewRegistry()
	if err := o.Register(reg); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	ctx := context.Background()
	for _, s := range []budget.Scope{budget.Tenant("acme"), budget.Account()} {
		if err := b.Pause(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	s := waitSnapshot(t, o, "both pauses seen", func(s *overview.Snapshot) bool {
		return slices.Equal(s.Paused, []string{"account", "tenant:acme"})
	})
	var table bytes.Buffer
	if err := overview.WriteTable(&table, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "\npaused        account  tenant:acme  (held as they come: iseed budget resume)\n") {
		t.Errorf("the table does not name the paused scopes:\n%s", table.String())
	}
	pipetest.WaitFor(t, 20*time.Second, "iseed_paused_scopes 2", func() bool { return scrape(t, srv.URL)["iseed_paused_scopes"] == "2" })
	for _, s := range []budget.Scope{budget.Tenant("acme"), budget.Account()} {
		if err := b.Resume(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	waitSnapshot(t, o, "both resumed", func(s *overview.Snapshot) bool { return s.PausedKnown && len(s.Paused) == 0 })
	pipetest.WaitFor(t, 20*time.Second, "iseed_paused_scopes 0", func() bool { return scrape(t, srv.URL)["iseed_paused_scopes"] == "0" })
}
