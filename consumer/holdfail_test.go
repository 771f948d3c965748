package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/rs/zerolog"
)

// TestFailingTenantsDoNotDelayOthersHolds: tenants whose head hold cannot be
// released (its message is gone, and it is not past the maximum age yet:
// every pass fails on it) must not hold up the other tenants' releases. A
// pass slept a second after each failing tenant, so with twenty of them
// every pass took twenty seconds. The test tenant's holds are released one after
// another, each held after the one before went out, so each needs a pass of
// its own: the third could not go before a whole pass had run between
// them, twenty seconds then; now the three go at once. The bound (12 s)
// leaves room for a loaded machine (CI, -race).
func TestFailingTenantsDoNotDelayOthersHolds(t *testing.T) {
	t.Parallel()
	const failing = 20
	h := newHarness(t)
	b := h.budgetsCapped(oneEuroADay)
	for i := range failing {
		heldWithMessageGone(t, h, fmt.Sprintf("failing-%d", i))
	}
	var logs pipetest.Buffer
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		// Passes come from the cap changes below, and from this tick: a
		// pass started by a cap change before the pass loop saw a new key
		// misses it.
		c.HoldPoll = 500 * time.Millisecond
		c.Logger = zerolog.New(&logs)
	}))
	const bound = 12 * time.Second
	if took := releaseThreeInTurn(t, h, b); took > bound {
		t.Errorf("three holds released one after another took %s, want under %s: the %d failing tenants delayed them", took.Round(time.Millisecond), bound, failing)
	}
	for i := range failing {
		if tenant := fmt.Sprintf(`"tenant":"failing-%d"`, i); !strings.Contains(logs.String(), tenant) {
			t.Errorf("no warning for %s: its hold was not tried, or did not fail", tenant)
		}
	}
	if got := h.Counter("created"); got != 3 {
		t.Errorf("upstream requests: got %d, want 3", got)
	}
}

// releaseThreeInTurn holds the test tenant's emp-1, emp-2 and emp-3 under
// a cap of one request a day, each released by raising the cap by one
// once it is held, so that each needs a hold pass of its own after the one
// before went out. It returns how long the three releases took.
func releaseThreeInTurn(t *testing.T, h *harness, b *budget.Budgets) time.Duration {
	t.Helper()
	ctx := context.Background()
	h.Publish(pipetest.Submission("emp-1", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-1", record.StateHeld)
	start := time.Now()
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("emp-%d", i)
		if i > 1 {
			h.Publish(pipetest.Submission(id, pipetest.ValidFields("Mario")), nil)
			h.WaitState(id, record.StateHeld) // the cap lets i-1 through a day
		}
		if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: int64(i)}); err != nil {
			t.Fatal(err)
		}
		var r *record.Record
		pipetest.WaitExplained(t, 90*time.Second, id+" to be released and submitted", func() bool {
			r = h.Record(id)
			return r.State == record.StateSubmitted
		}, func() string { return "state " + r.State })
	}
	return time.Since(start)
}

// putHoldKey writes the holds key of tenant's submission id, held since
// since, naming its message seq on subject, as the pipeline writes it.
func putHoldKey(t *testing.T, h *harness, tenant, id string, since time.Time, seq uint64, subject string) string {
	t.Helper()
	key := fmt.Sprintf("%s.%020d.%s", tenant, since.UnixNano(), id)
	v, _ := json.Marshal(struct {
		Seq     uint64 `json:"seq"`
		Subject string `json:"subject"`
	}{seq, subject})
	if _, err := h.Res.Holds.Put(context.Background(), key, v); err != nil {
		t.Fatal(err)
	}
	return key
}

// heldWithMessageGone stores a held submission of tenant whose message is
// not in the submissions stream: its release fails at every pass until
// the maximum age.
func heldWithMessageGone(t *testing.T, h *harness, tenant string) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	rec := &record.Record{Tenant: tenant, ID: "emp-gone", Fingerprint: "f", Generation: 1, State: record.StateHeld,
		Reason: "budget", HeldSince: now, Created: now, Updated: now}
	if _, err := record.NewStore(h.Res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	putHoldKey(t, h, tenant, rec.ID, now, 1<<40, h.Res.Layout.SubmissionSubject(tenant))
}
