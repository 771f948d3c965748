package budget_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/money"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const (
	capsBucket  = "test_budgets"
	usageBucket = "test_budget_usage"
)

// price is an ISEE with the urgency option, in cents.
const price money.Cents = 1170

func rome(t testing.TB) *time.Location {
	t.Helper()
	loc, err := money.Rome()
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at is a wall-clock time in Rome.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, rome(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// newBudgets starts a server and returns Budgets on it.
func newBudgets(t *testing.T) (*budget.Budgets, *natstest.Server) {
	t.Helper()
	srv := natstest.Run(t)
	return replica(t, srv), srv
}

// replica returns Budgets on its own connection to srv, as a separate
// iseed process would have, creating the buckets if needed.
func replica(t *testing.T, srv *natstest.Server) *budget.Budgets { return replicaOf(t, srv) }

func replicaOf(t testing.TB, srv *natstest.Server) *budget.Budgets {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caps, usage, err := budget.EnsureBuckets(ctx, js, capsBucket, usageBucket, 1, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	b, err := budget.New(caps, usage, budget.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func set(t *testing.T, b *budget.Budgets, s budget.Scope, c budget.Caps) {
	t.Helper()
	if err := b.Set(context.Background(), s, c); err != nil {
		t.Fatalf("Set(%s, %+v): %v", s, c, err)
	}
}

// usage returns the day and month usage of s at now.
func usage(t *testing.T, b *budget.Budgets, s budget.Scope, now time.Time) (day, month budget.Usage) {
	t.Helper()
	day, month, err := b.Usage(context.Background(), s, now)
	if err != nil {
		t.Fatalf("Usage(%s): %v", s, err)
	}
	return day, month
}
