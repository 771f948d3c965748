package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// errReplyLost is what nats.go returns when a write landed and its reply
// (the stream's PubAck) did not come back in time.
var errReplyLost = context.DeadlineExceeded

// fault fires once, when armed.
type fault struct{ armed, fired atomic.Bool }

func (f *fault) take() bool { return f.armed.Load() && f.fired.CompareAndSwap(false, true) }

// recordReplyLost lets the first Update of a record that matches land,
// then loses its reply.
type recordReplyLost struct {
	jetstream.KeyValue
	match func(*record.Record) bool
	fault
}

func (l *recordReplyLost) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	rev, err := l.KeyValue.Update(ctx, key, value, last)
	var r record.Record
	if err == nil && json.Unmarshal(value, &r) == nil && l.match(&r) && l.take() {
		return 0, errReplyLost
	}
	return rev, err
}

// deadLetterReplyLost stores the first dead letter, then loses its reply.
type deadLetterReplyLost struct {
	jetstream.JetStream
	fault
}

func (l *deadLetterReplyLost) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := l.JetStream.PublishMsg(ctx, m, opts...)
	if err == nil && m.Header.Get(dlq.HeaderReason) != "" && l.take() {
		return nil, errReplyLost
	}
	return ack, err
}

// flakyEvents fails the first event of a state: refused, or published
// with its reply lost (lands).
type flakyEvents struct {
	consumer.Events
	state string
	lands bool
	fault
}

func (e *flakyEvents) Status(ctx context.Context, s publisher.Status) error {
	if s.State != e.state {
		return e.Events.Status(ctx, s)
	}
	if !e.take() {
		return e.Events.Status(ctx, s)
	}
	if !e.lands {
		return errors.New("events stream unavailable")
	}
	if err := e.Events.Status(ctx, s); err != nil {
		return err
	}
	return errReplyLost
}

// withMaxDeliver gives the harness's submissions consumer n deliveries.
func (h *harness) withMaxDeliver(n int) {
	h.T.Helper()
	h.Layout.MaxDeliver = n
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // not nats.go's 5 s a request, as pipetest's
	defer cancel()
	res, err := layout.Ensure(ctx, h.NATS.JS, h.Layout)
	if err != nil {
		h.T.Fatal(err)
	}
	h.Res = res
}

// advisoriesSettled reports whether an advisory arrived and none is left
// to handle (the stream is a work queue: a settled advisory is gone).
func (h *harness) advisoriesSettled() bool {
	info, err := h.NATS.JS.Stream(context.Background(), h.Res.Layout.AdvisoriesStream())
	if err != nil {
		return false
	}
	st := info.CachedInfo().State
	return st.LastSeq > 0 && st.Msgs == 0
}

// count is how many of xs are x.
func count(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// A claimed submission that exhausts MaxDeliver ends failed (max_deliveries)
// with one dead letter and one failed event, even when a step of the
// advisory's handling fails or lands and loses its reply: the retried
// advisory finds the record failed already and stores and announces again,
// deduplicated by the same ids.
func TestMaxDeliveriesFailureIsAnnouncedOnARetry(t *testing.T) {
	failedType := publisher.StatusType(record.StateFailed)
	for _, fail := range []string{"the record's failure: reply lost", "the dead letter: reply lost",
		"the failed event: refused", "the failed event: reply lost"} {
		t.Run(fail, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.withMaxDeliver(2)
			fields := pipetest.ValidFields("Mario")
			h.PutRecord("emp-adv", fields, func(r *record.Record) { r.To(record.StateClaimed, time.Now(), "") })
			kv := &recordReplyLost{KeyValue: h.Res.Records, match: func(r *record.Record) bool { return r.Reason == dlq.ReasonMaxDeliveries }}
			h.Res.Records = kv
			js := &deadLetterReplyLost{}
			ev := &flakyEvents{state: record.StateFailed, lands: fail == "the failed event: reply lost"}
			faults := map[string]*fault{"the record's failure: reply lost": &kv.fault, "the dead letter: reply lost": &js.fault,
				"the failed event: refused": &ev.fault, "the failed event: reply lost": &ev.fault}
			faults[fail].armed.Store(true)
			h.Start(pipetest.WithSchemas(flakySchemas{}), pipetest.WithDeps(func(d *consumer.Deps) {
				js.JetStream, ev.Events = d.Publisher, d.Events
				d.Publisher, d.Events = js, ev
			}))
			h.Publish(pipetest.Submission("emp-adv", fields), nil)
			pipetest.WaitExplained(t, 20*time.Second, "the advisory handled", h.advisoriesSettled, func() string {
				return fmt.Sprintf("events %v; dead letters %d", h.EventTypes("emp-adv"), len(h.DeadLetters()))
			})
			if !faults[fail].fired.Load() {
				t.Fatalf("%s: the fault never fired", fail)
			}
			if r := h.Record("emp-adv"); r.State != record.StateFailed || r.Reason != dlq.ReasonMaxDeliveries {
				t.Errorf("record: got %s/%s, want failed/max_deliveries", r.State, r.Reason)
			}
			if got := count(h.EventTypes("emp-adv"), failedType); got != 1 {
				t.Errorf("%s events: got %d (%v), want 1", failedType, got, h.EventTypes("emp-adv"))
			}
			if dls := h.DeadLetters(); len(dls) != 1 || dls[0].Reason != dlq.ReasonMaxDeliveries {
				t.Errorf("dead letters: got %+v, want one, max_deliveries", dls)
			}
		})
	}
}

// trackerRefusingOnce refuses its first Track when armed, and keeps the
// request ids it tracked.
type trackerRefusingOnce struct {
	fault
	mu      sync.Mutex
	tracked []string
}

func (tr *trackerRefusingOnce) Track(_ context.Context, r *record.Record) error {
	if tr.take() {
		return errors.New("track stream unavailable")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.tracked = append(tr.tracked, r.RequestID)
	return nil
}

func (tr *trackerRefusingOnce) ids() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.tracked)
}

// A request recorded on the message's last allowed delivery is finished by
// the max-deliveries advisory when that delivery could not finish it (the
// record write's reply lost, the submitted event or the tracking task
// refused): announced, tracked and entered in the ledger, and never sent
// again.
func TestRequestRecordedOnTheLastDeliveryIsFinished(t *testing.T) {
	submittedType := publisher.StatusType(record.StateSubmitted)
	for _, fail := range []string{"the request id's record write: reply lost", "the submitted event: refused", "the tracking task: refused"} {
		t.Run(fail, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.withMaxDeliver(1)
			kv := &recordReplyLost{KeyValue: h.Res.Records, match: func(r *record.Record) bool { return r.RequestID != "" }}
			h.Res.Records = kv
			ev := &flakyEvents{state: record.StateSubmitted}
			tr := &trackerRefusingOnce{}
			faults := map[string]*fault{"the request id's record write: reply lost": &kv.fault,
				"the submitted event: refused": &ev.fault, "the tracking task: refused": &tr.fault}
			faults[fail].armed.Store(true)
			h.Start(pipetest.WithDeps(func(d *consumer.Deps) {
				ev.Events = d.Events
				d.Events, d.Tracker, d.Ledger = ev, tr, h.ledger()
			}))
			h.Publish(pipetest.Submission("emp-last", pipetest.ValidFields("Mario")), nil)
			pipetest.WaitFor(t, 20*time.Second, "the advisory handled", h.advisoriesSettled)
			if !faults[fail].fired.Load() {
				t.Fatalf("%s: the fault never fired", fail)
			}
			r := h.Record("emp-last")
			if r.State != record.StateSubmitted || r.RequestID == "" {
				t.Fatalf("record: got %s, request %q, want submitted with its request", r.State, r.RequestID)
			}
			if got := h.Counter("POST /richiesta"); got != 1 {
				t.Errorf("POSTs: got %d, want 1", got)
			}
			if types := h.EventTypes("emp-last"); count(types, submittedType) != 1 {
				t.Errorf("events: got %v, want one %s", types, submittedType)
			}
			if ids := tr.ids(); !slices.Contains(ids, r.RequestID) {
				t.Errorf("tracked requests: got %v, want %s", ids, r.RequestID)
			}
			es, err := h.ledger().Entries(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour), pipetest.Tenant)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 1 || es[0].RequestID != r.RequestID {
				t.Errorf("ledger entries: got %+v, want one for %s", es, r.RequestID)
			}
			if dls := h.DeadLetters(); len(dls) != 0 {
				t.Errorf("dead letters: got %+v, want none", dls)
			}
		})
	}
}

// An advisory whose handling keeps failing is retried as long as a
// submission is (MaxDeliver deliveries), then given up: never every few
// seconds for good.
func TestMaxDeliveriesAdvisoryIsGivenUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withMaxDeliver(3)
	fields := pipetest.ValidFields("Mario")
	h.PutRecord("emp-stuck", fields, func(r *record.Record) { r.To(record.StateClaimed, time.Now(), "") })
	js := &refusingDeadLetters{}
	reg := prometheus.NewRegistry()
	h.Start(pipetest.WithMetrics(consumer.NewMetrics(reg)), pipetest.WithSchemas(flakySchemas{}), pipetest.WithDeps(func(d *consumer.Deps) {
		js.JetStream = d.Publisher
		d.Publisher = js
	}))
	h.Publish(pipetest.Submission("emp-stuck", fields), nil)
	pipetest.WaitExplained(t, 20*time.Second, "the advisory given up", h.advisoriesSettled, func() string {
		return fmt.Sprintf("%d tries", js.tries.Load())
	})
	if got := js.tries.Load(); got != 3 {
		t.Errorf("tries of the dead letter: got %d, want 3 (MaxDeliver)", got)
	}
	if got := metric(t, reg, "iseed_advisories_given_up_total"); got != 1 {
		t.Errorf("iseed_advisories_given_up_total: got %v, want 1: the alert would not fire", got)
	}
}

// refusingDeadLetters refuses every dead letter, and counts them.
type refusingDeadLetters struct {
	jetstream.JetStream
	tries atomic.Int64
}

func (r *refusingDeadLetters) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if m.Header.Get(dlq.HeaderReason) != "" {
		r.tries.Add(1)
		return nil, errors.New("dead-letter stream refuses the message")
	}
	return r.JetStream.PublishMsg(ctx, m, opts...)
}
