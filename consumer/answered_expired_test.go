package consumer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
)

// switchSchemas cannot resolve any service while down; it counts the tries.
type switchSchemas struct {
	consumer.Schemas
	down  atomic.Bool
	tries atomic.Int32
}

func (f *switchSchemas) Service(ctx context.Context, nameOrHash string) (*schema.Service, error) {
	f.tries.Add(1)
	if f.down.Load() {
		return nil, context.DeadlineExceeded
	}
	return f.Schemas.Service(ctx, nameOrHash)
}

// TestExpiredAdoptionOfAKeptIdIsChargedItsOptions: a message past the
// maximum age while its service cannot be resolved (expire) adopts the id
// its record keeps. Without the service its options cannot be priced:
// adopted then, the request is entered for less than it cost, for good.
// Its charge names the option the request was created (and paid) with.
func TestExpiredAdoptionOfAKeptIdIsChargedItsOptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := keptAnswer(t, h, "emp-exp")
	schemas := &switchSchemas{Schemas: h.Schemas()}
	schemas.down.Store(true)
	h.Start(pipetest.WithSchemas(schemas), pipetest.WithConfig(func(c *consumer.Config) {
		c.Callback = nil
		c.MaxAge = time.Millisecond
	}))
	h.Publish(pipetest.Submission("emp-exp", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "deliveries while the catalog is unreachable", func() bool {
		r := h.Record("emp-exp")
		return schemas.tries.Load() >= 4 || r.State == record.StateSubmitted
	})
	schemas.down.Store(false)
	r := h.WaitState("emp-exp", record.StateSubmitted)
	if r.RequestID != id || h.Counter("POST /richiesta") != 1 {
		t.Fatalf("request %q, POSTs %d; want %s adopted, 1 POST (the test's)", r.RequestID, h.Counter("POST /richiesta"), id)
	}
	if r.Charge == nil || len(r.Charge.Options) != 1 {
		t.Errorf("charge of the adopted request: %+v; want the urgenza option charged", r.Charge)
	}
}
