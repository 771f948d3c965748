package consumer

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// TestPausedHoldWithAReservationStays: the holds pass asks the caps
// whether a held submission may go. One that holds a reservation (an
// earlier delivery reserved, then stopped before its POST) may go though
// its cap is reached: the room is its own. Not while its tenant is
// paused: released, its delivery would be held again, each pass, a held
// event each time. Resumed, it may go.
func TestPausedHoldWithAReservationStays(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t)
	ctx := context.Background()
	caps, usage, err := budget.EnsureBuckets(ctx, s.JS, "iseed_budgets", "iseed_usage", 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	b, err := budget.New(caps, usage, budget.Config{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := b.Set(ctx, budget.Tenant("acme"), budget.Caps{DailyRequests: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reserve(ctx, "acme", "s1", 1200, now); err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{d: Deps{Budget: b}}
	price := 12.0
	reserved := &record.Record{Tenant: "acme", ID: "s1", Price: &price}
	other := &record.Record{Tenant: "acme", ID: "s2", Price: &price}
	check := func(when string, rec *record.Record, want bool) {
		t.Helper()
		if ok, err := p.allows(ctx, rec, now); err != nil || ok != want {
			t.Errorf("%s, %s may go: %v (%v), want %v", when, rec.ID, ok, err, want)
		}
	}
	check("the cap reached", reserved, true)
	check("the cap reached", other, false)
	if err := b.Pause(ctx, budget.Tenant("acme")); err != nil {
		t.Fatal(err)
	}
	check("paused", reserved, false)
	check("paused", other, false)
	if err := b.Resume(ctx, budget.Tenant("acme")); err != nil {
		t.Fatal(err)
	}
	check("resumed", reserved, true)
}
