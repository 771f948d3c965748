package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// leaseWatch counts the reads of the records bucket and notes a write that
// fails a record max_deliveries while live is set (the test's stand-in
// for another delivery holds its lease).
type leaseWatch struct {
	jetstream.KeyValue
	live        atomic.Bool
	gets        atomic.Int64
	failedEarly atomic.Bool
}

func (w *leaseWatch) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	w.gets.Add(1)
	return w.KeyValue.Get(ctx, key)
}

func (w *leaseWatch) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	var r record.Record
	if w.live.Load() && json.Unmarshal(value, &r) == nil && r.State == record.StateFailed && r.Reason == dlq.ReasonMaxDeliveries {
		w.failedEarly.Store(true)
	}
	return w.KeyValue.Update(ctx, key, value, last)
}

// liveLeaseHarness puts a claimed record of id under a live lease of
// another delivery, marked (it may be posting), and publishes the
// submission to a pipeline whose every delivery fails before its claim,
// so that the message runs out of deliveries (8: the advisory's retries,
// as many, span seconds) and the max-deliveries advisory comes while the
// lease is live. It returns once the advisory has read the record.
func liveLeaseHarness(t *testing.T, id string) (*harness, *leaseWatch, *record.Store) {
	h := newHarness(t)
	h.withMaxDeliver(8)
	fields := pipetest.ValidFields("Mario")
	now := time.Now()
	h.PutRecord(id, fields, func(r *record.Record) {
		r.To(record.StateClaimed, now, "")
		r.Pending = &record.Attempt{Started: now, Owner: "live/1", Until: now.Add(time.Hour), Marked: true}
	})
	store := record.NewStore(h.Res.Records)
	w := &leaseWatch{KeyValue: h.Res.Records}
	w.live.Store(true)
	h.Res.Records = w
	h.Start(pipetest.WithSchemas(flakySchemas{}))
	h.Publish(pipetest.Submission(id, fields), nil)
	pipetest.WaitFor(t, 30*time.Second, "the advisory to read the record", func() bool { return w.gets.Load() > 0 })
	return h, w, store
}

// asLiveDelivery writes the record of id as the delivery holding the lease
// would, by compare-and-set, reading it again when it moved (adopt writes
// a late answer over a failure too).
func asLiveDelivery(t *testing.T, store *record.Store, id string, mod func(*record.Record)) {
	t.Helper()
	ctx := context.Background()
	for {
		rec, rev, err := store.Get(ctx, pipetest.Tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		next := rec.Clone()
		mod(next)
		if _, err := store.Update(ctx, next, rev); err == nil {
			return
		} else if !errors.Is(err, record.ErrRevision) {
			t.Fatal(err)
		}
	}
}

// A claimed submission whose message runs out of deliveries while another
// delivery of it (a duplicate of the message, a release) holds a live
// lease, and may be posting, is not failed under that delivery's feet: the
// max-deliveries advisory is retried until the lease ends, and finds the
// request that delivery recorded. Failed at once, the producer read
// "failed", then "submitted" (adopt records a late answer over a
// failure), and a max_deliveries letter stayed for a request made and
// paid.
func TestMaxDeliveriesWaitsForAnotherDeliverysLiveLease(t *testing.T) {
	t.Parallel()
	h, w, store := liveLeaseHarness(t, "emp-live")
	// The live delivery's POST answers: it records its request.
	asLiveDelivery(t, store, "emp-live", func(r *record.Record) {
		r.To(record.StateSubmitted, time.Now(), "")
		r.RequestID = "req-live-1"
		r.Pending, r.Reason, r.Errors = nil, "", nil
	})
	w.live.Store(false)
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

// When the lease ends with nothing recorded (the delivery's POST went
// unanswered, and it gave the lease up), the advisory fails the submission
// as before, the pending attempt kept: its POST may have created a
// request, which a replay reconciles first.
func TestMaxDeliveriesFailsOnceALiveLeaseEnds(t *testing.T) {
	t.Parallel()
	h, w, store := liveLeaseHarness(t, "emp-ended")
	w.live.Store(false) // before the lease ends: a failure after that write is the right one
	asLiveDelivery(t, store, "emp-ended", func(r *record.Record) {
		pa := *r.Pending
		pa.Until, pa.Settle = time.Now(), time.Now()
		r.Pending = &pa
	})
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

// The advisory of a submission under another delivery's live lease does
// not keep the advisories behind it waiting: there is one advisory worker
// a replica, and the rest of its batch would wait out that lease (up to
// ISEED_ACK_WAIT, a minute by default, beyond the advisories' own 30 s
// ack wait), another submission's dead letter with it.
func TestMaxDeliveriesUnderALiveLeaseDoesNotHoldUpOtherAdvisories(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Layout.AckWait = 20 * time.Second // the longest the advisory of emp-busy may wait
	h.withMaxDeliver(2)
	fields := pipetest.ValidFields("Mario")
	now := time.Now()
	h.PutRecord("emp-busy", fields, func(r *record.Record) {
		r.To(record.StateClaimed, now, "")
		r.Pending = &record.Attempt{Started: now, Owner: "live/1", Until: now.Add(time.Hour), Marked: true}
	})
	w := &leaseWatch{KeyValue: h.Res.Records}
	h.Res.Records = w
	h.Start(pipetest.WithSchemas(flakySchemas{}))
	h.Publish(pipetest.Submission("emp-busy", fields), nil)
	pipetest.WaitFor(t, 10*time.Second, "the advisory of emp-busy to read its record", func() bool { return w.gets.Load() > 0 })

	h.Publish(pipetest.Submission("emp-other", fields), nil)
	pipetest.WaitExplained(t, 10*time.Second, "the dead letter of emp-other", func() bool {
		for _, dl := range h.DeadLetters() {
			if dl.SubmissionID == "emp-other" {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("dead letters %+v", h.DeadLetters()) })
	if r := h.Record("emp-busy"); r.State != record.StateClaimed {
		t.Errorf("emp-busy: got %s, want claimed (its lease is live)", r.State)
	}
}

// An advisory whose last delivery still finds another delivery's lease
// live is not given up (no record failed, no dead letter, no event, for
// good): the lease's holder is alive (it renews it, waiting for its
// upstream token), and once the lease ends the advisory fails the
// submission as ever.
func TestMaxDeliveriesUnderARenewedLeaseIsNotGivenUp(t *testing.T) {
	for _, tc := range []struct {
		name, state string
		kept        bool // the record keeps the id an earlier POST got back: adopted, not failed
	}{
		{"claimed", record.StateClaimed, false},
		{"held", record.StateHeld, false},
		{"claimed, keeping an answered id", record.StateClaimed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			underARenewedLease(t, tc.state, tc.kept)
		})
	}
}

func underARenewedLease(t *testing.T, state string, kept bool) {
	h := newHarness(t)
	h.withMaxDeliver(2)
	fields := pipetest.ValidFields("Mario")
	now := time.Now()
	var id string
	schemas := consumer.Schemas(flakySchemas{})
	if kept {
		id = keptAnswer(t, h, "emp-renewed") // its lease, ended, is renewed below
		schemas = namesDown{h.Schemas()}     // the advisory resolves the service by the hash the record keeps
	} else {
		h.PutRecord("emp-renewed", fields, func(r *record.Record) {
			r.To(state, now, "")
			if state == record.StateHeld { // a release's delivery holds the lease
				r.HeldSince, r.Reason = now, "budget"
			}
			r.Pending = &record.Attempt{Started: now, Owner: "live/1", Until: now.Add(2 * time.Second), Marked: true}
		})
	}
	kv := h.Res.Records
	w := &leaseWatch{KeyValue: kv}
	h.Res.Records = w
	h.Start(pipetest.WithSchemas(schemas), pipetest.WithConfig(func(c *consumer.Config) {
		if kept {
			c.Callback = nil
		}
	}))

	// The holder renews its lease until the advisory has read the record
	// four times (past its two deliveries), then stops, as one that dies.
	store := record.NewStore(kv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	renewed := make(chan error, 1)
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for w.gets.Load() < 4 {
			rec, rev, err := store.Get(ctx, pipetest.Tenant, "emp-renewed")
			if err != nil {
				renewed <- err
				return
			}
			if rec.State != state || rec.Pending == nil {
				break // failed after all: the lease ended before a renewal (a slow machine)
			}
			next := rec.Clone()
			next.Pending.Owner, next.Pending.Until = "live/1", time.Now().Add(2*time.Second)
			if _, err := store.Update(ctx, next, rev); errors.Is(err, record.ErrRevision) {
				break // as a holder whose compare-and-set fails: it stops
			} else if err != nil {
				renewed <- err
				return
			}
			select {
			case <-ctx.Done():
				renewed <- ctx.Err()
				return
			case <-tick.C:
			}
		}
		renewed <- nil
	}()
	h.Publish(pipetest.Submission("emp-renewed", fields), nil)
	if kept {
		adopted := func() bool { // through the bucket itself: the advisory's reads alone are counted
			r, _, err := store.Get(context.Background(), pipetest.Tenant, "emp-renewed")
			return err == nil && r.RequestID == id
		}
		pipetest.WaitExplained(t, 30*time.Second, "emp-renewed adopted", adopted, func() string {
			return fmt.Sprintf("advisory reads %d; events %v; dead letters %+v", w.gets.Load(), h.EventTypes("emp-renewed"), h.DeadLetters())
		})
		if err := <-renewed; err != nil {
			t.Fatalf("renew the lease: %v", err)
		}
		if r := h.Record("emp-renewed"); r.State != record.StateSubmitted {
			t.Errorf("record: got %s/%s, want submitted", r.State, r.Reason)
		}
		if dls := h.DeadLetters(); len(dls) != 0 {
			t.Errorf("dead letters: got %+v, want none", dls)
		}
		if got := h.Counter("POST /richiesta"); got != 1 {
			t.Errorf("POSTs: got %d, want 1 (the one that created the kept request)", got)
		}
		return
	}
	pipetest.WaitExplained(t, 30*time.Second, "the dead letter of emp-renewed", func() bool { return len(h.DeadLetters()) > 0 }, func() string {
		return fmt.Sprintf("advisory reads %d; events %v", w.gets.Load(), h.EventTypes("emp-renewed"))
	})
	if err := <-renewed; err != nil {
		t.Fatalf("renew the lease: %v", err)
	}
	if r := h.Record("emp-renewed"); r.State != record.StateFailed || r.Reason != dlq.ReasonMaxDeliveries {
		t.Errorf("record: got %s/%s, want failed/max_deliveries", r.State, r.Reason)
	}
	if dls := h.DeadLetters(); len(dls) != 1 || dls[0].Reason != dlq.ReasonMaxDeliveries {
		t.Errorf("dead letters: got %+v, want one, max_deliveries", dls)
	}
}
