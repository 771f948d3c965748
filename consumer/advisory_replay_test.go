package consumer_test

import (
	"context"
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
	"github.com/iseed-dev/iseed/schema"
)

// schemasGoingDown resolves no service once down is set, as while the
// catalog is unreachable: every delivery then ends in a retry.
type schemasGoingDown struct {
	consumer.Schemas
	down *atomic.Bool
}

func (s schemasGoingDown) Service(ctx context.Context, nameOrHash string) (*schema.Service, error) {
	if s.down.Load() {
		return nil, errors.New("schema store unreachable")
	}
	return s.Schemas.Service(ctx, nameOrHash)
}

// TestMaxDeliveriesOfAnUnreopenedReplay: an operator replays the letter of
// a submission that no longer validates and may have its request (an
// attempt in doubt), and the replay runs out of deliveries without
// reopening the record. Refused (a person must decide), its last delivery
// stored the letter of the refusal, under the replay's id, and could not
// publish its failed event: the advisory stored a second letter,
// max_deliveries (under the message's id), of the same submission, a
// replay of either reopening it. Or it never got that far (the catalog
// unreachable): the replayed letter is gone, removed by the replay
// command. Either way the advisory stores the one letter the refusal
// stores (the record's own reason, the replay's id), and the failed event.
func TestMaxDeliveriesOfAnUnreopenedReplay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		reason string // the replayed letter's, and the record's
		fault  string // on the replay's delivery: "event" refused, or the catalog "down"
	}{
		{"ambiguous, refused, its failed event refused", dlq.ReasonAmbiguous, "event"},
		{"ambiguous, never reopened, the catalog unreachable", dlq.ReasonAmbiguous, "down"},
		{"max_deliveries, refused, its failed event refused", dlq.ReasonMaxDeliveries, "event"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.withMaxDeliver(1)
			data := driftedClaim(t, h)
			ev := &flakyEvents{state: record.StateFailed}
			var down atomic.Bool
			down.Store(tc.reason == dlq.ReasonMaxDeliveries) // the claim then exhausts its one delivery
			h.Start(pipetest.WithSchemas(schemasGoingDown{h.Schemas(), &down}),
				pipetest.WithDeps(func(d *consumer.Deps) { ev.Events, d.Events = d.Events, ev }))
			h.Publish(data, nil)
			var dls []dlq.DeadLetter
			pipetest.WaitFor(t, 20*time.Second, "the first dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
			if dls[0].Reason != tc.reason {
				t.Fatalf("first dead letter: got %+v, want %s", dls[0], tc.reason)
			}
			failed := publisher.StatusType(record.StateFailed)
			h.WaitLastEvent("emp-drift", failed)
			pipetest.WaitFor(t, 20*time.Second, "the first advisory handled", func() bool {
				return tc.reason != dlq.ReasonMaxDeliveries || h.advisoriesSettled()
			})
			ev.armed.Store(tc.fault == "event")
			down.Store(tc.fault == "down")
			if err := h.Queue().Replay(context.Background(), dls[0].Seq); err != nil {
				t.Fatal(err)
			}
			pipetest.WaitExplained(t, 30*time.Second, "the replay's advisory handled", func() bool {
				return h.advisoriesSettled() && h.advisories() == 1+btoi(tc.reason == dlq.ReasonMaxDeliveries)
			}, func() string {
				return fmt.Sprintf("events %v; dead letters %+v", h.EventTypes("emp-drift"), h.DeadLetters())
			})
			if ev.armed.Load() && !ev.fired.Load() {
				t.Fatal("the failed event was never refused")
			}
			if dls := h.DeadLetters(); len(dls) != 1 || dls[0].Reason != tc.reason || dls[0].StreamSeq != 2 {
				t.Errorf("dead letters: got %+v, want one, %s, of the replay (stream sequence 2)", dls, tc.reason)
			}
			if r := h.Record("emp-drift"); r.State != record.StateFailed || r.Reason != tc.reason || r.Pending == nil {
				t.Errorf("record: got %s/%s pending %v, want failed/%s, its attempt still pending", r.State, r.Reason, r.Pending, tc.reason)
			}
			// The replay's failed event repeats the first failure's: stored once.
			if got := count(h.EventTypes("emp-drift"), failed); got != 1 {
				t.Errorf("%s events: got %d (%v), want 1", failed, got, h.EventTypes("emp-drift"))
			}
			if got := h.Counter("POST /richiesta"); got != 0 {
				t.Errorf("POSTs: got %d, want 0", got)
			}
		})
	}
}

// advisories is how many max-deliveries advisories have reached the
// advisories stream.
func (h *harness) advisories() uint64 {
	info, err := h.NATS.JS.Stream(context.Background(), h.Res.Layout.AdvisoriesStream())
	if err != nil {
		return 0
	}
	return info.CachedInfo().State.LastSeq
}

func btoi(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
