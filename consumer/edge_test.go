package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// flakySchemas never answers: every delivery ends in a retry.
type flakySchemas struct{}

func (flakySchemas) Service(context.Context, string) (*schema.Service, error) {
	return nil, errors.New("schema store unreachable")
}

func TestMaxDeliveriesReachTheDLQ(t *testing.T) {
	h := newHarness(t)
	h.layout.MaxDeliver = 3
	res, err := consumer.EnsureLayout(context.Background(), h.nats.JS, h.layout)
	if err != nil {
		t.Fatal(err)
	}
	h.res = res
	h.start(withSchemas(flakySchemas{}), withConfig(func(c *consumer.Config) {
		c.Retry = consumer.RetryPolicy{MinDelay: 50 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
	}))
	data := submission("emp-loop", validFields("Mario"))
	h.publish(data, nil)
	var dls []consumer.DeadLetter
	waitFor(t, 20*time.Second, "the max-deliveries dead letter", func() bool { dls = h.deadLetters(); return len(dls) == 1 })
	if dls[0].Reason != consumer.ReasonMaxDeliveries || dls[0].Deliveries != 3 || dls[0].SubmissionID != "emp-loop" {
		t.Errorf("dead letter: got %+v, want reason max_deliveries after 3 deliveries", dls[0])
	}
	raw, err := h.res.DLQ.GetMsg(context.Background(), dls[0].Seq)
	if err != nil || string(raw.Data) != string(data) {
		t.Errorf("dead letter payload: got %q (%v), want the original", raw.Data, err)
	}
}

func TestTooOldSubmissionExpires(t *testing.T) {
	h := newHarness(t)
	h.start(withConfig(func(c *consumer.Config) { c.MaxAge = time.Nanosecond }))
	h.publish(submission("emp-old", validFields("Mario")), nil)
	r := h.waitState("emp-old", consumer.StateFailed)
	if r.Reason != consumer.ReasonExpired {
		t.Errorf("reason: got %q, want %q", r.Reason, consumer.ReasonExpired)
	}
	if got := h.counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
}

func TestBreakerStopsPulling(t *testing.T) {
	h := newHarness(t)
	h.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 503}}})
	h.start(withConfig(func(c *consumer.Config) {
		c.Workers = 1
		c.Breaker = consumer.BreakerConfig{Failures: 3, Cooldown: 2 * time.Second}
	}))
	for i := range 10 {
		h.publish(submission(fmt.Sprintf("br-%d", i), validFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	waitFor(t, 10*time.Second, "the breaker to open", func() bool { return h.counter("POST /richiesta") >= 3 })
	opened := h.counter("POST /richiesta")
	info, err := h.res.Consumer.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	delivered := info.Delivered.Consumer
	time.Sleep(time.Second) // observe a quiet second inside the 2 s cooldown
	info, err = h.res.Consumer.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := h.counter("POST /richiesta"); got != opened {
		t.Errorf("POSTs while the breaker is open: got %d more", got-opened)
	}
	if info.Delivered.Consumer > delivered+1 {
		t.Errorf("deliveries while the breaker is open: got %d more, want at most the hand-back of one prefetched message", info.Delivered.Consumer-delivered)
	}
	h.sim.SetFaults(sim.Faults{})
	for i := range 10 {
		h.waitState(fmt.Sprintf("br-%d", i), consumer.StateSubmitted)
	}
	if got := h.counter("created"); got != 10 {
		t.Errorf("upstream requests: got %d, want 10", got)
	}
}

func TestTooOldDuringSchemaOutageExpires(t *testing.T) {
	h := newHarness(t)
	h.start(withSchemas(flakySchemas{}), withConfig(func(c *consumer.Config) { c.MaxAge = time.Nanosecond }))
	h.publish(submission("emp-old-down", validFields("Mario")), nil)
	var dls []consumer.DeadLetter
	waitFor(t, 10*time.Second, "the expired dead letter", func() bool { dls = h.deadLetters(); return len(dls) == 1 })
	if dls[0].Reason != consumer.ReasonExpired || dls[0].Deliveries != 1 {
		t.Errorf("dead letter: got %+v, want reason expired on the first delivery", dls[0])
	}
}
