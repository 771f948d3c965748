package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestUnpickedReleasesDoNotDelayOthersHolds: tenants whose released hold
// is not picked up (a delivery has it under a live lease and makes no
// progress: the pipeline stalled or slow) must not hold up the other
// tenants' releases. A pass waited up to a second for each of them in turn,
// so with twelve every pass took twelve seconds, and the three releases
// below at least 24: the bound (12 s) leaves room for a loaded machine
// (CI, -race), where they take a second or two otherwise. The test tenant's holds are
// released one after another, each held after the one before went out, so
// each needs a pass of its own. The stalled tenants' next holds stay where
// they are: one is not released before the one ahead of it is picked up.
func TestUnpickedReleasesDoNotDelayOthersHolds(t *testing.T) {
	t.Parallel()
	const stalled = 12
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	since := time.Now()
	for i := range stalled {
		tenant := fmt.Sprintf("stalled-%d", i)
		heldUnpicked(t, h, tenant, "emp-first", since)
		heldUnpicked(t, h, tenant, "emp-next", since.Add(time.Second)) // behind it
	}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 500 * time.Millisecond // as in TestFailingTenantsDoNotDelayOthersHolds
	}))
	const bound = 12 * time.Second
	if took := releaseThreeInTurn(t, h, b); took > bound {
		t.Errorf("three holds released one after another took %s, want under %s: the %d unpicked releases delayed them", took.Round(time.Millisecond), bound, stalled)
	}
	store := record.NewStore(h.Res.Records)
	for i := range stalled {
		tenant := fmt.Sprintf("stalled-%d", i)
		// Its two, and emp-first's release (stored once, whatever the passes).
		switch n := messages(t, h, tenant); {
		case n < 3:
			t.Errorf("%s: %d messages on its subject, want 3: emp-first was never released", tenant, n)
		case n > 3:
			t.Errorf("%s: %d messages on its subject, want 3: emp-next was released before emp-first was picked up", tenant, n)
		}
		for _, id := range []string{"emp-first", "emp-next"} {
			if r, _, err := store.Get(ctx, tenant, id); err != nil || r.State != record.StateHeld {
				t.Errorf("%s/%s: got %v (%v), want held", tenant, id, r, err)
			}
		}
	}
	if got := h.Counter("created"); got != 3 {
		t.Errorf("upstream requests: got %d, want 3", got)
	}
}

// heldUnpicked stores a held submission of tenant whose release is never
// picked up: a delivery elsewhere has its record under a lease for an hour
// (its message, published now, and every release of it find it busy).
func heldUnpicked(t *testing.T, h *harness, tenant, id string, since time.Time) {
	t.Helper()
	ctx := context.Background()
	data := pipetest.Submission(id, pipetest.ValidFields("Mario"))
	sub, err := consumer.DecodeSubmission(data)
	if err != nil {
		t.Fatal(err)
	}
	subject := h.Res.Layout.SubmissionSubject(tenant)
	ack, err := h.NATS.JS.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	rec := &record.Record{Tenant: tenant, ID: id, Fingerprint: sub.Fingerprint(), Generation: 1, State: record.StateHeld,
		Reason: "budget", HeldSince: since, Created: since, Updated: since}
	rec.Pending = &record.Attempt{Started: since, Owner: "stalled-elsewhere", Until: since.Add(time.Hour)}
	if _, err := record.NewStore(h.Res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	putHoldKey(t, h, tenant, id, since, ack.Sequence, subject)
}

// messages counts the messages on tenant's submissions subject.
func messages(t *testing.T, h *harness, tenant string) int {
	t.Helper()
	ctx := context.Background()
	s, err := h.NATS.JS.Stream(ctx, h.Res.Layout.SubmissionsStream())
	if err != nil {
		t.Fatal(err)
	}
	subject := h.Res.Layout.SubmissionSubject(tenant)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return int(info.State.Subjects[subject])
}
