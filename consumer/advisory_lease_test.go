package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// leaseWatch counts the reads of the records bucket and notes a write that
// fails a record max_deliveries before until.
type leaseWatch struct {
	jetstream.KeyValue
	until        time.Time
	gets         atomic.Int64
	failedEarly  atomic.Bool
	failedWrites atomic.Int64
}

func (w *leaseWatch) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	w.gets.Add(1)
	return w.KeyValue.Get(ctx, key)
}

func (w *leaseWatch) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	var r record.Record
	if json.Unmarshal(value, &r) == nil && r.State == record.StateFailed && r.Reason == dlq.ReasonMaxDeliveries {
		w.failedWrites.Add(1)
		if time.Now().Before(w.until) {
			w.failedEarly.Store(true)
		}
	}
	return w.KeyValue.Update(ctx, key, value, last)
}

// A claimed submission whose message runs out of deliveries while another
// delivery of it (a duplicate of the message, a release) holds a live
// lease, and may be posting, is not failed under that delivery's feet: the
// max-deliveries advisory waits for the lease to end and reads the record
// again, and finds the request that delivery recorded. Failed at once, the
// producer read "failed", then "submitted" (adopt records a late answer
// over a failure), and a max_deliveries letter stayed for a request made
// and paid.
func TestMaxDeliveriesWaitsForAnotherDeliverysLiveLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withMaxDeliver(2)
	fields := pipetest.ValidFields("Mario")
	now := time.Now()
	until := now.Add(8 * time.Second) // the test's own steps must fit before it, under -race and load
	h.PutRecord("emp-live", fields, func(r *record.Record) {
		r.To(record.StateClaimed, now, "")
		r.Pending = &record.Attempt{Started: now, Owner: "live/1", Until: until, Marked: true}
	})
	kv := h.Res.Records
	w := &leaseWatch{KeyValue: kv, until: until}
	h.Res.Records = w
	h.Start(pipetest.WithSchemas(flakySchemas{})) // every delivery of the message fails before its claim
	h.Publish(pipetest.Submission("emp-live", fields), nil)
	pipetest.WaitFor(t, 10*time.Second, "the advisory to read the record", func() bool { return w.gets.Load() > 0 })

	// The live delivery's POST answers: it records its request, as adopt
	// does (over a failure too, read again).
	store := record.NewStore(kv)
	ctx := context.Background()
	for {
		rec, rev, err := store.Get(ctx, pipetest.Tenant, "emp-live")
		if err != nil {
			t.Fatal(err)
		}
		next := rec.Clone()
		next.To(record.StateSubmitted, time.Now(), "")
		next.RequestID = "req-live-1"
		next.Pending, next.Reason, next.Errors = nil, "", nil
		if _, err := store.Update(ctx, next, rev); err == nil {
			break
		} else if !errors.Is(err, record.ErrRevision) {
			t.Fatal(err)
		}
	}
	if time.Now().After(until) {
		t.Fatal("the test's own write came after the lease ended: the machine is too slow for this test")
	}
	pipetest.WaitExplained(t, 30*time.Second, "the advisory handled", h.advisoriesSettled, func() string {
		return fmt.Sprintf("events %v; dead letters %+v", h.EventTypes("emp-live"), h.DeadLetters())
	})
	if w.failedEarly.Load() {
		t.Error("the advisory wrote the record failed (max_deliveries) under another delivery's live lease")
	}
	if r := h.Record("emp-live"); r.State != record.StateSubmitted || r.RequestID != "req-live-1" {
		t.Errorf("record: got %s (request %q), want submitted with req-live-1", r.State, r.RequestID)
	}
	types := h.EventTypes("emp-live")
	if count(types, publisher.StatusType(record.StateFailed)) != 0 || count(types, publisher.StatusType(record.StateSubmitted)) != 1 {
		t.Errorf("events: got %v, want one submitted and no failed", types)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: got %+v, want none", dls)
	}
}

// After the lease ends with nothing recorded, the advisory fails the
// submission as before, the pending attempt kept (its POST may have
// created a request: a replay reconciles first).
func TestMaxDeliveriesFailsOnceALiveLeaseEnds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withMaxDeliver(2)
	fields := pipetest.ValidFields("Mario")
	now := time.Now()
	until := now.Add(3 * time.Second)
	h.PutRecord("emp-ended", fields, func(r *record.Record) {
		r.To(record.StateClaimed, now, "")
		r.Pending = &record.Attempt{Started: now, Owner: "live/1", Until: until, Marked: true}
	})
	w := &leaseWatch{KeyValue: h.Res.Records, until: until}
	h.Res.Records = w
	h.Start(pipetest.WithSchemas(flakySchemas{}))
	h.Publish(pipetest.Submission("emp-ended", fields), nil)
	pipetest.WaitExplained(t, 30*time.Second, "the advisory handled", h.advisoriesSettled, func() string {
		return fmt.Sprintf("events %v; dead letters %+v", h.EventTypes("emp-ended"), h.DeadLetters())
	})
	if w.failedEarly.Load() {
		t.Error("the advisory wrote the record failed (max_deliveries) under another delivery's live lease")
	}
	r := h.Record("emp-ended")
	if r.State != record.StateFailed || r.Reason != dlq.ReasonMaxDeliveries || r.Pending == nil {
		t.Errorf("record: got %s/%s (pending %+v), want failed/max_deliveries with the attempt kept", r.State, r.Reason, r.Pending)
	}
	if got := count(h.EventTypes("emp-ended"), publisher.StatusType(record.StateFailed)); got != 1 {
		t.Errorf("failed events: got %d (%v), want 1", got, h.EventTypes("emp-ended"))
	}
	if dls := h.DeadLetters(); len(dls) != 1 || dls[0].Reason != dlq.ReasonMaxDeliveries {
		t.Errorf("dead letters: got %+v, want one, max_deliveries", dls)
	}
}
