package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
)

// A submission whose request exists upstream but whose tracking gave up is
// settled: the producer re-publishing the event, or a replay header on it,
// never makes a second request nor a new dead letter.
func TestGaveUpSubmissionIsNeverSentAgain(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	data := pipetest.Submission("emp-gaveup", pipetest.ValidFields("Mario"))
	sub, _ := consumer.DecodeSubmission(data)
	past := time.Now().Add(-61 * 24 * time.Hour)
	rec := &record.Record{Tenant: pipetest.Tenant, ID: "emp-gaveup", Fingerprint: sub.Fingerprint(), Generation: 1,
		State: record.StateFailed, Reason: dlq.ReasonGaveUp, RequestID: "5f2829ce065afc21cc60ad0e",
		StatoRichiesta: "In erogazione", Attempts: 1, Created: past, Updated: time.Now(),
		Timeline: []record.Transition{{State: record.StateSubmitted, At: past}, {State: record.StateFailed, At: time.Now(), Note: "gave_up"}}}
	b, _ := json.Marshal(rec)
	if _, err := h.Res.Records.Create(context.Background(), record.Key(pipetest.Tenant, "emp-gaveup"), b); err != nil {
		t.Fatal(err)
	}
	h.Start()
	h.Publish(data, nil)                                   // the producer re-publishes the same event
	h.Publish(data, nats.Header{dlq.ReplayHeader: {"41"}}) // as if replayed from a dead letter
	pipetest.WaitFor(t, 10*time.Second, "both messages settled", func() bool { return h.settled() })
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POSTs: got %d, want 0 (the request already exists)", got)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: got %+v, want none", dls)
	}
	if r := h.Record("emp-gaveup"); r.State != record.StateFailed || r.RequestID != rec.RequestID || r.Generation != 1 {
		t.Errorf("record changed: %+v", r)
	}
}
