package consumer_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// TestHoldKeyWrittenBeforeItsRecordIsKept: a delivery holds a submission
// by writing its holds key first, then its record (so that RunHolds finds
// it even if the record write fails). A pass between the two found the key
// of a record still claimed, took it for a submission released already and
// removed it: the record, held a moment later, had no key, and was never
// released nor expired. A claimed record under a live lease is its
// delivery's: its key stays.
func TestHoldKeyWrittenBeforeItsRecordIsKept(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	id := "emp-race"
	fields := pipetest.ValidFields("Mario")
	now := time.Now()
	// The delivery that is holding it: its lease, the record still claimed.
	h.PutRecord(id, fields, func(r *record.Record) {
		r.Created, r.Updated = now, now
		r.Pending = &record.Attempt{Started: now, Owner: "holding/1", Until: now.Add(time.Minute), Unsent: true}
	})
	h.Publish(pipetest.Submission(id, fields), nil)
	info, err := h.Res.Submissions.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held, err := h.Res.Submissions.GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	// The holding delivery acknowledges its message once the record says held.
	batch, err := h.Res.Consumer.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var logs pipetest.Buffer
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 100 * time.Millisecond
		c.Logger = zerolog.New(&logs)
	}))
	// Its key, written first.
	key := putHoldKey(t, h, pipetest.Tenant, id, now, held.Sequence, held.Subject)
	pipetest.WaitFor(t, 10*time.Second, "a pass to look at the key", func() bool {
		_, err := h.Res.Holds.Get(ctx, key)
		return err != nil || strings.Contains(logs.String(), "a delivery has it")
	})
	// Then its record, held.
	store := record.NewStore(h.Res.Records)
	rec, rev, err := store.Get(ctx, pipetest.Tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	rec.To(record.StateHeld, time.Now(), "budget")
	rec.HeldSince, rec.Reason, rec.Pending, rec.Attempts = now, "budget", nil, 0
	if _, err := store.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	var r *record.Record
	pipetest.WaitExplained(t, 20*time.Second, "emp-race to be released and submitted", func() bool {
		r = h.Record(id)
		return r.State == record.StateSubmitted
	}, func() string {
		_, err := h.Res.Holds.Get(ctx, key)
		return fmt.Sprintf("state %s, its key: %v", r.State, err)
	})
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}
