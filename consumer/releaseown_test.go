package consumer_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// refusingUpstream refuses every POST with a 400: nothing is created.
type refusingUpstream struct{ consumer.Upstream }

func (refusingUpstream) CreateRichiesta(context.Context, visengine.CreateRequest) (*visengine.Richiesta, error) {
	return nil, &visengine.Error{Op: "POST /richiesta", Status: 400, Code: 200, Class: visengine.ClassPermanent, Message: "refused"}
}

// slowInvalidate is a schema cache whose Invalidate (the step after a
// refused POST) waits until go is closed: a replica slow past its lease.
type slowInvalidate struct {
	*schema.Cache
	entered, proceed chan struct{}
	once             sync.Once
}

func (s *slowInvalidate) Invalidate(ctx context.Context, hash string) error {
	s.once.Do(func() { close(s.entered) })
	select {
	case <-s.proceed:
	case <-time.After(30 * time.Second):
	}
	return s.Cache.Invalidate(ctx, hash)
}

// observedBudget signals the first reservation it makes, and holds its
// commits until after is closed.
type observedBudget struct {
	*budget.Budgets
	reserved, after chan struct{}
	once            sync.Once
}

func (o *observedBudget) Reserve(ctx context.Context, tenant, id string, amount money.Cents, now time.Time) (budget.Reservation, error) {
	r, err := o.Budgets.Reserve(ctx, tenant, id, amount, now)
	if err == nil {
		o.once.Do(func() { close(o.reserved) })
	}
	return r, err
}

func (o *observedBudget) Commit(ctx context.Context, r budget.Reservation) error {
	select {
	case <-o.after:
	case <-time.After(30 * time.Second):
	}
	return o.Budgets.Commit(ctx, r)
}

// TestRefusedPostReleasesOnlyItsOwnReservation: replica A's POST is
// refused (nothing created), but A is slow to end the submission (here
// while it shuts down) and its lease runs out. Replica B takes the
// submission over, reserves (getting the reservation A made, still held),
// reconciles, posts and creates the request. A must not then give back
// the reservation B is spending: the request would be paid and counted
// nowhere, and the tenant's cap of one request would let a second one
// through.
func TestRefusedPostReleasesOnlyItsOwnReservation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.budgets().Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 1}); err != nil {
		t.Fatal(err)
	}
	slow := &slowInvalidate{Cache: h.Schemas(), entered: make(chan struct{}), proceed: make(chan struct{})}
	stopA := h.Start(h.withMoney(h.budgets()), pipetest.WithSchemas(slow), pipetest.WithUpstream(refusingUpstream{h.Client}),
		pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 1; c.HoldPoll = time.Hour }))
	h.Publish(pipetest.Submission("emp-1", pipetest.ValidFields("Mario")), nil)
	select {
	case <-slow.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("replica A's POST was not refused")
	}
	aDone := make(chan struct{})
	go func() { stopA(); close(aDone) }() // A stops pulling; its refused submission is still in hand

	b := &observedBudget{Budgets: h.budgets(), reserved: make(chan struct{}), after: aDone}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	select {
	case <-b.reserved: // B holds the submission (A's lease ran out) and its reservation
	case <-time.After(20 * time.Second):
		t.Fatal("replica B did not take the submission over")
	}
	close(slow.proceed) // A goes on to end the submission it no longer holds
	h.WaitState("emp-1", record.StateSubmitted)
	<-aDone
	pipetest.WaitFor(t, 10*time.Second, "B's reservation committed", func() bool {
		_, m, err := h.budgets().Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
		return err == nil && m.Held == 0
	})
	if _, m, err := h.budgets().Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now()); err != nil || m.Requests != 1 {
		t.Errorf("counted against the cap: got %d requests (%v), want 1: the request B created is paid", m.Requests, err)
	}
	h.Publish(pipetest.Submission("emp-2", pipetest.ValidFields("Luigi")), nil)
	pipetest.WaitFor(t, 20*time.Second, "emp-2 held or sent", func() bool {
		r := h.Record("emp-2")
		return r != nil && (r.State == record.StateHeld || r.RequestID != "")
	})
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (the cap is one request a day)", got)
	}
}

// brokeUpstream answers every POST with a 402: the wallet is empty,
// nothing is created or charged.
type brokeUpstream struct{ consumer.Upstream }

func (brokeUpstream) CreateRichiesta(context.Context, visengine.CreateRequest) (*visengine.Richiesta, error) {
	return nil, &visengine.Error{Op: "POST /richiesta", Status: 402, Code: 211, Class: visengine.ClassInsufficientCredit, Message: "insufficient credit"}
}

// slowWalletEvents publishes events, but waits until proceed is closed
// before announcing the empty wallet (the step after a 402).
type slowWalletEvents struct {
	*publisher.Publisher
	entered, proceed chan struct{}
	once             sync.Once
}

func (s *slowWalletEvents) Account(ctx context.Context, e publisher.AccountEvent) error {
	s.once.Do(func() { close(s.entered) })
	select {
	case <-s.proceed:
	case <-time.After(30 * time.Second):
	}
	return s.Publisher.Account(ctx, e)
}

// TestEmptyWalletReleasesOnlyItsOwnReservation: as
// TestRefusedPostReleasesOnlyItsOwnReservation, after a 402: replica A's
// wallet is empty, and it is slow past its lease to announce it; replica
// B (its wallet fine) takes the submission over with the reservation A
// made and creates the request. A must not give that reservation back.
func TestEmptyWalletReleasesOnlyItsOwnReservation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if err := h.budgets().Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 1}); err != nil {
		t.Fatal(err)
	}
	events := &slowWalletEvents{Publisher: publisher.New(h.NATS.JS, publisher.Config{}), entered: make(chan struct{}), proceed: make(chan struct{})}
	stopA := h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Budget, d.Ledger, d.Events = h.budgets(), h.ledger(), events }),
		pipetest.WithUpstream(brokeUpstream{h.Client}),
		pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 1; c.HoldPoll = time.Hour }))
	h.Publish(pipetest.Submission("emp-1", pipetest.ValidFields("Mario")), nil)
	select {
	case <-events.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("replica A's POST did not meet an empty wallet")
	}
	aDone := make(chan struct{})
	go func() { stopA(); close(aDone) }()

	b := &observedBudget{Budgets: h.budgets(), reserved: make(chan struct{}), after: aDone}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	select {
	case <-b.reserved:
	case <-time.After(20 * time.Second):
		t.Fatal("replica B did not take the submission over")
	}
	close(events.proceed)
	h.WaitState("emp-1", record.StateSubmitted)
	<-aDone
	pipetest.WaitFor(t, 10*time.Second, "B's reservation committed", func() bool {
		_, m, err := h.budgets().Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
		return err == nil && m.Held == 0
	})
	if _, m, err := h.budgets().Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now()); err != nil || m.Requests != 1 {
		t.Errorf("counted against the cap: got %d requests (%v), want 1: the request B created is paid", m.Requests, err)
	}
	h.Publish(pipetest.Submission("emp-2", pipetest.ValidFields("Luigi")), nil)
	pipetest.WaitFor(t, 20*time.Second, "emp-2 held or sent", func() bool {
		r := h.Record("emp-2")
		return r != nil && (r.State == record.StateHeld || r.RequestID != "")
	})
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (the cap is one request a day)", got)
	}
}

// TestRedeliveryKeepsItsReservationBehindHolds: a delivery reserved its
// submission's price (the day's only request) and stopped before its POST
// (a crash, a shutdown, a retry): the reservation stays counted, and the
// submission's redelivery is to get it back and post (docs/money.md,
// "Crashes"). Meanwhile a newer submission of the tenant met the full cap
// and is held. The redelivery must not queue behind it: the held one
// waits for the room the redelivery's own reservation occupies, and both
// would wait until the day ends.
func TestRedeliveryKeepsItsReservationBehindHolds(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 1}); err != nil {
		t.Fatal(err)
	}
	// The delivery that stopped: the record claimed, nothing sent, the
	// reservation held.
	h.PutRecord("emp-first", pipetest.ValidFields("Mario"), func(r *record.Record) {
		r.Created, r.Updated, r.Attempts = time.Now(), time.Now(), 0
		r.Service, r.ServiceHash = "ISEE", sim.HashISEE
	})
	if _, err := b.Reserve(ctx, pipetest.Tenant, "emp-first", 1600, time.Now()); err != nil {
		t.Fatal(err)
	}
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.Publish(pipetest.Submission("emp-later", pipetest.ValidFields("Luigi")), nil)
	h.WaitState("emp-later", record.StateHeld)                                      // the cap is full: the first one's reservation
	h.Publish(pipetest.Submission("emp-first", pipetest.ValidFields("Mario")), nil) // the redelivery
	pipetest.WaitExplained(t, 20*time.Second, "emp-first sent with its reservation", func() bool {
		r := h.Record("emp-first")
		return r != nil && r.RequestID != ""
	}, func() string {
		r := h.Record("emp-first")
		if r == nil {
			return "no record"
		}
		return fmt.Sprintf("emp-first is %s (%+v)", r.State, r.Errors)
	})
	pipetest.WaitExplained(t, 10*time.Second, "the reservation committed", func() bool {
		_, m, err := b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
		return err == nil && m.Held == 0
	}, func() string {
		_, m, err := b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now())
		return fmt.Sprintf("usage %+v, %v; record %+v", m, err, h.Record("emp-first"))
	})
	if _, m, err := b.Usage(ctx, budget.Tenant(pipetest.Tenant), time.Now()); err != nil || m.Requests != 1 {
		t.Errorf("counted: got %d requests (%v), want the one reservation", m.Requests, err)
	}
	if r := h.Record("emp-later"); r == nil || r.State != record.StateHeld {
		t.Errorf("emp-later: got %+v, want still held (the cap is one request a day)", r)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}
