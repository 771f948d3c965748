package consumer_test

import (
	"context"
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
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// flakySchemas never answers: every delivery ends in a retry.
type flakySchemas struct{}

func (flakySchemas) Service(context.Context, string) (*schema.Service, error) {
	return nil, errors.New("schema store unreachable")
}

func TestMaxDeliveriesReachTheDLQ(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Layout.MaxDeliver = 3
	res, err := layout.Ensure(context.Background(), h.NATS.JS, h.Layout)
	if err != nil {
		t.Fatal(err)
	}
	h.Res = res
	h.Start(pipetest.WithSchemas(flakySchemas{}), pipetest.WithConfig(func(c *consumer.Config) {
		c.Retry = consumer.RetryPolicy{MinDelay: 50 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
	}))
	data := pipetest.Submission("emp-loop", pipetest.ValidFields("Mario"))
	h.Publish(data, nil)
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 20*time.Second, "the max-deliveries dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	if dls[0].Reason != dlq.ReasonMaxDeliveries || dls[0].Deliveries != 3 || dls[0].SubmissionID != "emp-loop" {
		t.Errorf("dead letter: got %+v, want reason max_deliveries after 3 deliveries", dls[0])
	}
	raw, err := h.Res.DLQ.GetMsg(context.Background(), dls[0].Seq)
	if err != nil || string(raw.Data) != string(data) {
		t.Errorf("dead letter payload: got %q (%v), want the original", raw.Data, err)
	}
}

func TestTooOldSubmissionExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.MaxAge = time.Nanosecond }))
	h.Publish(pipetest.Submission("emp-old", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-old", record.StateFailed)
	if r.Reason != dlq.ReasonExpired {
		t.Errorf("reason: got %q, want %q", r.Reason, dlq.ReasonExpired)
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
}

// TestBreakerOpensAndRecovers: consecutive 503s open the breaker, which
// then lets no POST through and pauses the pool (workpool's own test proves
// that a paused pool pulls nothing); after the cooldown one trial closes
// it and every submission is sent once.
func TestBreakerOpensAndRecovers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 503}}})
	reg := prometheus.NewRegistry()
	h.Start(pipetest.WithMetrics(consumer.NewMetrics(reg)), pipetest.WithConfig(func(c *consumer.Config) {
		c.Workers = 1
		c.Breaker = consumer.BreakerConfig{Failures: 3, Cooldown: 300 * time.Millisecond}
	}))
	for i := range 10 {
		h.Publish(pipetest.Submission(fmt.Sprintf("br-%d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	pipetest.WaitFor(t, 10*time.Second, "the breaker to open", func() bool { return metric(t, reg, "iseed_upstream_breaker_open") == 1 })
	if got := h.Counter("POST /richiesta"); got < 3 {
		t.Errorf("POSTs before the breaker opened: got %d, want at least 3", got)
	}
	h.Sim.SetFaults(sim.Faults{})
	for i := range 10 {
		h.WaitState(fmt.Sprintf("br-%d", i), record.StateSubmitted)
	}
	if got := h.Counter("created"); got != 10 {
		t.Errorf("upstream requests: got %d, want 10", got)
	}
	if got := metric(t, reg, "iseed_upstream_breaker_open"); got != 0 {
		t.Errorf("breaker gauge after recovery: got %v, want 0", got)
	}
}

// metric reads a gauge or counter without labels from reg (-1: none).
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	m := single(t, reg, name)
	if m == nil {
		return -1
	}
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// single returns the one series of the metric name in reg, nil when it has
// none or several.
func single(t *testing.T, reg *prometheus.Registry, name string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0]
		}
	}
	return nil
}

func TestTooOldDuringSchemaOutageExpires(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start(pipetest.WithSchemas(flakySchemas{}), pipetest.WithConfig(func(c *consumer.Config) { c.MaxAge = time.Nanosecond }))
	h.Publish(pipetest.Submission("emp-old-down", pipetest.ValidFields("Mario")), nil)
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 10*time.Second, "the expired dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	if dls[0].Reason != dlq.ReasonExpired || dls[0].Deliveries != 1 {
		t.Errorf("dead letter: got %+v, want reason expired on the first delivery", dls[0])
	}
}

// failFirstSubmitted fails the first publish of each submission's
// "submitted" event, as a stream whose leader is gone answers.
type failFirstSubmitted struct {
	consumer.Events
	mu     sync.Mutex
	failed map[string]bool
}

func (f *failFirstSubmitted) Status(ctx context.Context, s publisher.Status) error {
	if s.State == record.StateSubmitted {
		f.mu.Lock()
		first := !f.failed[s.SubmissionID]
		f.failed[s.SubmissionID] = true
		f.mu.Unlock()
		if first {
			return errors.New("nats: no response from stream")
		}
	}
	return f.Events.Status(ctx, s)
}

// advancingTracker does what tracking does once started: the record moves
// on and the later state is announced. Each call checks that "submitted"
// went out before it.
type advancingTracker struct {
	h      *harness
	events consumer.Events
	early  atomic.Int32
}

func (a *advancingTracker) Track(ctx context.Context, r *record.Record) error {
	if !slices.Contains(a.h.EventTypes(r.ID), publisher.StatusType(record.StateSubmitted)) {
		a.early.Add(1)
	}
	rec, rev, err := record.NewStore(a.h.Res.Records).Get(ctx, r.Tenant, r.ID)
	if err != nil || rec.State != record.StateSubmitted {
		return err
	}
	next := rec.Clone()
	next.To(record.StateInProgress, time.Now(), "")
	if err := a.events.Status(ctx, *next.Status(record.StateInProgress)); err != nil {
		return err
	}
	_, err = record.NewStore(a.h.Res.Records).Update(ctx, next, rev)
	return err
}

// A "submitted" event whose publish fails is published on redelivery, and
// before tracking starts: once tracking moves the record on, nothing would
// announce it, and the later states would come first.
func TestSubmittedGoesOutBeforeTracking(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	events := publisher.New(h.NATS.JS, publisher.Config{})
	tr := &advancingTracker{h: h, events: events}
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) {
		d.Events = &failFirstSubmitted{Events: events, failed: map[string]bool{}}
		d.Tracker = tr
	}))
	h.Publish(pipetest.Submission("emp-announce", pipetest.ValidFields("Mario")), nil)
	want := []string{publisher.StatusType(record.StateSubmitted), publisher.StatusType(record.StateInProgress)}
	var got []string
	pipetest.WaitFor(t, 20*time.Second, "submitted, then in progress", func() bool {
		got = h.EventTypes("emp-announce")
		return len(got) >= 2
	})
	if !slices.Equal(got, want) || tr.early.Load() != 0 {
		t.Errorf("events %v, tracking started %d time(s) before submitted went out; want %v and none", got, tr.early.Load(), want)
	}
	if n := h.Counter("created"); n != 1 {
		t.Errorf("POSTs: got %d, want 1", n)
	}
}
