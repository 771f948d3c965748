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
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// withMaxDeliver gives the harness's submissions consumer n deliveries.
func (h *harness) withMaxDeliver(n int) {
	h.T.Helper()
	h.Layout.MaxDeliver = n
	res, err := layout.Ensure(context.Background(), h.NATS.JS, h.Layout)
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
	h.Start(pipetest.WithSchemas(flakySchemas{}), pipetest.WithDeps(func(d *consumer.Deps) {
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
