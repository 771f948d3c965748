package consumer_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/nats-io/nats.go/jetstream"
)

// recordsGetFailsOnce fails the first Get of the records bucket, as a
// stream leader failing over does.
type recordsGetFailsOnce struct {
	jetstream.KeyValue
	failed atomic.Bool
}

func (r *recordsGetFailsOnce) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	if r.failed.CompareAndSwap(false, true) {
		return nil, errors.New("nats: timeout")
	}
	return r.KeyValue.Get(ctx, key)
}

// TestMalformedEventSurvivesARecordsOutage: a malformed message whose id
// can be read gets a rejected event unless a submission of that id exists.
// When the records bucket cannot say (a transient failure), the message
// must wait for it to answer. It was dead-lettered and terminated at once
// without the event, as if the submission existed: its producer never
// heard that the message was refused.
func TestMalformedEventSurvivesARecordsOutage(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	kv := &recordsGetFailsOnce{KeyValue: h.Res.Records}
	h.Res.Records = kv
	h.Start()
	h.Publish([]byte(`{"id":"emp-m","service":"ISEE"}`), nil)
	pipetest.WaitFor(t, 10*time.Second, "the message settled", h.settled)
	if !kv.failed.Load() {
		t.Fatal("the records bucket never failed")
	}
	if got := h.EventTypes("emp-m"); len(got) != 1 || got[0] != "iseed.submission.rejected" {
		t.Errorf("events of emp-m: got %v, want one rejected event", got)
	}
	if got := len(h.DeadLetters()); got != 1 {
		t.Errorf("dead letters: got %d, want 1", got)
	}
}
