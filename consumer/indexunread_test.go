package consumer_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// indexExistsUnread answers the request index's first create "key exists"
// without writing anything: what a create whose answer was lost, retried,
// meets when a leader elected since has not applied the first one yet.
type indexExistsUnread struct {
	jetstream.KeyValue
	fired atomic.Bool
}

func (i *indexExistsUnread) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if i.fired.CompareAndSwap(false, true) {
		return 0, jetstream.ErrKeyExists
	}
	return i.KeyValue.Create(ctx, key, value, opts...)
}

// TestIndexEntryExistingUnreadIsNotAnothers: the request index says an
// entry exists for the request a POST got back, and the leader's read
// finds none. That is no other submission's request: the write is tried
// again, and the submission is submitted with its request, once. It was
// failed upstream_duplicate beside its own paid request, which the next
// delivery's reconciliation then called ambiguous (the chaos suite's
// minority partition).
func TestIndexEntryExistingUnreadIsNotAnothers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idx := &indexExistsUnread{KeyValue: h.Res.Requests}
	res := *h.Res
	res.Requests = idx
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Resources = &res }))
	h.Publish(pipetest.Submission("emp-unread", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-unread", record.StateSubmitted)
	if !idx.fired.Load() {
		t.Fatal("the request index answered no create \"key exists\"")
	}
	if r.RequestID == "" || r.Reason != "" {
		t.Errorf("record: request %q, reason %q; want its request, no failure", r.RequestID, r.Reason)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: %d, want 1", got)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters %+v; want none", dls)
	}
}
