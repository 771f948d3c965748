package consumer_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
)

// TestMaxDeliveriesBeforeAnyRecordIsAnnounced: a message that runs out of
// deliveries before any record of its id was written (its service could
// not be resolved on any of them) is dead-lettered by the advisory, and
// its producer gets a failed event (reason max_deliveries, generation 0,
// an id of its own), as for one that expired; it once got nothing.
func TestMaxDeliveriesBeforeAnyRecordIsAnnounced(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.withMaxDeliver(3)
	h.Start(pipetest.WithSchemas(flakySchemas{}), pipetest.WithConfig(func(c *consumer.Config) {
		c.Retry = consumer.RetryPolicy{MinDelay: 50 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
	}))
	h.Publish(pipetest.Submission("emp-md0", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 20*time.Second, "the max-deliveries dead letter", func() bool { return len(h.DeadLetters()) == 1 })
	pipetest.WaitFor(t, 10*time.Second, "the failed event", func() bool { return len(h.Events("emp-md0")) == 1 })
	ev := h.Events("emp-md0")[0]
	var st publisher.Status
	if err := json.Unmarshal(ev.Data, &st); err != nil {
		t.Fatal(err)
	}
	if ev.Type != publisher.StatusType(publisher.StateFailed) || st.Reason != dlq.ReasonMaxDeliveries || st.Generation != 0 ||
		len(st.Errors) != 1 || st.Errors[0].Code != dlq.ReasonMaxDeliveries {
		t.Errorf("event: got %s %s, want failed, reason max_deliveries, generation 0, one max_deliveries problem", ev.Type, ev.Data)
	}
	if h.Record("emp-md0") != nil {
		t.Error("a record was written for the message")
	}
}
