package consumer_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// keyRemovedAfterPut is a holds bucket where, right after the first
// hold key of submission id is written, a pass removes it: a pass that
// read the record before the hold's record write, when the delivery
// holding it was slower than its lease (releaseHold takes a record that
// is not held, with no live lease, for a released one's).
type keyRemovedAfterPut struct {
	jetstream.KeyValue
	id   string
	once sync.Once
}

func (k *keyRemovedAfterPut) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := k.KeyValue.Put(ctx, key, value)
	if err == nil && strings.HasSuffix(key, "."+k.id) {
		k.once.Do(func() { _ = k.KeyValue.Delete(ctx, key, jetstream.LastRevision(rev)) })
	}
	return rev, err
}

// TestHoldKeyRemovedBeforeTheRecordIsHeldIsWrittenAgain: a hold writes
// its key, then its record. A pass that removed the key in between (it
// read the record claimed, its lease ended) left a held record with no
// key: never released, never expired. The hold writes its key again once
// the record says held, and the submission goes when the cap allows it.
func TestHoldKeyRemovedBeforeTheRecordIsHeldIsWrittenAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(budget.Caps{DailyRequests: 1})
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) {
		d.Budget, d.Ledger = b, h.ledger()
		res := *d.Resources
		res.Holds = &keyRemovedAfterPut{KeyValue: res.Holds, id: "emp-held"}
		d.Resources = &res
	}), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.Publish(pipetest.Submission("emp-first", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-first", record.StateSubmitted)
	h.Publish(pipetest.Submission("emp-held", pipetest.ValidFields("Luigi")), nil)
	h.WaitState("emp-held", record.StateHeld)

	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 2}); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitExplained(t, 10*time.Second, "emp-held released and submitted once the cap allows it", func() bool {
		return h.Record("emp-held").State == record.StateSubmitted
	}, func() string {
		keys, err := h.Res.Holds.Keys(ctx)
		return fmt.Sprintf("emp-held is %s; hold keys %v (%v)", h.Record("emp-held").State, keys, err)
	})
}
