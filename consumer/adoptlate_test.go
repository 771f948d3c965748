package consumer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// overtakenIndex refuses the first write to the request index, after
// running overtake: another delivery adopting the request and tracking
// completing it, while this worker could not write.
type overtakenIndex struct {
	jetstream.KeyValue
	overtake func(requestID string)
	refused  atomic.Bool
}

func (o *overtakenIndex) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if o.refused.CompareAndSwap(false, true) {
		o.overtake(key)
		return 0, errors.New("nats: no response from stream")
	}
	return o.KeyValue.Create(ctx, key, value, opts...)
}

// TestAnswerRecordedAfterTheRequestCompletedKeepsItCompleted: the worker
// holding a POST's answer cannot write the request index (a NATS cut);
// meanwhile another delivery adopts the request, and tracking completes it
// with its document. The worker keeping the id (keepAnswered) finds the
// record moved and reads it again; its index write then finds the entry
// its own. It used to write the record back to submitted from that
// completed copy: the chaos suite found two such records, tracked to their
// end and never completed again. It leaves the record as it is.
func TestAnswerRecordedAfterTheRequestCompletedKeepsItCompleted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	store := record.NewStore(h.Res.Records)
	idx := &overtakenIndex{KeyValue: h.Res.Requests}
	idx.overtake = func(requestID string) {
		rec, rev, err := store.Get(ctx, pipetest.Tenant, "emp-late")
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := h.Res.Requests.Create(ctx, record.IndexKey(requestID), []byte(record.Key(pipetest.Tenant, "emp-late"))); err != nil {
			t.Error(err)
			return
		}
		next := *rec
		next.To(record.StateSubmitted, time.Now(), "")
		next.To(record.StateCompleted, time.Now(), "")
		next.RequestID, next.Pending = requestID, nil
		next.Document = &record.DocumentRef{Object: "acme/emp-late/0123456789abcdef/isee.pdf", SHA256: "0123456789abcdef", Size: 1}
		if _, err := store.Update(ctx, &next, rev); err != nil {
			t.Error(err)
		}
	}
	res := *h.Res
	res.Requests = idx
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Resources = &res }), pipetest.WithConfig(func(c *consumer.Config) { c.Callback = nil }))
	h.Publish(pipetest.Submission("emp-late", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 20*time.Second, "the submission's message acknowledged", func() bool {
		info, err := h.Res.Consumer.Info(ctx)
		return err == nil && idx.refused.Load() && info.NumAckPending == 0 && info.NumPending == 0 && info.AckFloor.Consumer >= 1
	})
	if r := h.Record("emp-late"); r.State != record.StateCompleted || r.Document == nil {
		t.Errorf("record after the late answer: %s (document %v), want completed with its document", r.State, r.Document != nil)
	}
	if got := h.Counter("POST /richiesta"); got != 1 {
		t.Errorf("POSTs: got %d, want 1", got)
	}
}
