package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/schema"
)

// outageSchemas answers as the schema store it wraps once up is set, and
// with an error before.
type outageSchemas struct {
	consumer.Schemas
	up atomic.Bool
}

func (o *outageSchemas) Service(ctx context.Context, nameOrHash string) (*schema.Service, error) {
	if !o.up.Load() {
		return nil, errors.New("schema store unreachable")
	}
	return o.Schemas.Service(ctx, nameOrHash)
}

// TestExpiredBeforeAnyRecordIsAnnounced: a message that expires while its
// service cannot be resolved, before any record of its id, is dead-lettered
// and its producer gets a failed event (reason expired, generation 0, as a
// malformed message's rejection); it once got nothing, and waited for good.
// The event has an id of its own: the submission of that id sent again
// later, which fails in generation 1, is announced too.
func TestExpiredBeforeAnyRecordIsAnnounced(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	schemas := &outageSchemas{Schemas: h.Schemas()}
	h.Start(pipetest.WithSchemas(schemas), pipetest.WithConfig(func(c *consumer.Config) { c.MaxAge = time.Nanosecond }))
	data := pipetest.Submission("emp-exp0", pipetest.ValidFields("Mario"))
	h.Publish(data, nil)
	pipetest.WaitFor(t, 10*time.Second, "the expired dead letter", func() bool { return len(h.DeadLetters()) == 1 })
	pipetest.WaitFor(t, 10*time.Second, "the failed event", func() bool { return len(h.Events("emp-exp0")) == 1 })
	ev := h.Events("emp-exp0")[0]
	var st publisher.Status
	if err := json.Unmarshal(ev.Data, &st); err != nil {
		t.Fatal(err)
	}
	if ev.Type != publisher.StatusType(publisher.StateFailed) || st.Reason != dlq.ReasonExpired || st.Generation != 0 ||
		len(st.Errors) != 1 || st.Errors[0].Code != dlq.ReasonExpired {
		t.Errorf("event: got %s %s, want failed, reason expired, generation 0, one expired problem", ev.Type, ev.Data)
	}
	if dl := h.DeadLetters()[0]; dl.Reason != dlq.ReasonExpired || dl.Generation != 0 || dl.SubmissionID != "emp-exp0" {
		t.Errorf("dead letter: got %+v, want emp-exp0, expired, generation 0", dl)
	}
	if h.Record("emp-exp0") != nil {
		t.Error("a record was written for the expired message")
	}
	schemas.up.Store(true)
	h.Publish(data, nil) // its producer sends it again: it expires too, now with a record (generation 1)
	h.WaitLastEvent("emp-exp0", publisher.StatusType(publisher.StateFailed))
	pipetest.WaitFor(t, 10*time.Second, "the generation 1 failed event", func() bool { return len(h.Events("emp-exp0")) == 2 })
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POSTs: got %d, want 0", got)
	}
}
