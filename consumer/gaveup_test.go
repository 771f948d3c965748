package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/nats-io/nats.go"
)

// A submission whose request exists upstream but whose tracking gave up is
// settled: the producer re-publishing the event, or a replay header on it,
// never makes a second request nor a new dead letter.
func TestGaveUpSubmissionIsNeverSentAgain(t *testing.T) {
	h := newHarness(t)
	data := submission("emp-gaveup", validFields("Mario"))
	sub, _ := consumer.DecodeSubmission(data)
	past := time.Now().Add(-61 * 24 * time.Hour)
	rec := &consumer.Record{Tenant: tenant, ID: "emp-gaveup", Fingerprint: sub.Fingerprint(), Generation: 1,
		State: consumer.StateFailed, Reason: consumer.ReasonGaveUp, RequestID: "5f2829ce065afc21cc60ad0e",
		StatoRichiesta: "In erogazione", Attempts: 1, Created: past, Updated: time.Now(),
		Timeline: []consumer.Transition{{State: consumer.StateSubmitted, At: past}, {State: consumer.StateFailed, At: time.Now(), Note: "gave_up"}}}
	b, _ := json.Marshal(rec)
	if _, err := h.res.Records.Create(context.Background(), consumer.RecordKey(tenant, "emp-gaveup"), b); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.publish(data, nil)                                        // the producer re-publishes the same event
	h.publish(data, nats.Header{consumer.ReplayHeader: {"41"}}) // as if replayed from a dead letter
	waitFor(t, 10*time.Second, "both messages settled", func() bool { return h.pending() == 0 })
	if got := h.counter("POST /richiesta"); got != 0 {
		t.Errorf("POSTs: got %d, want 0 (the request already exists)", got)
	}
	if dls := h.deadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: got %+v, want none", dls)
	}
	if r := h.record("emp-gaveup"); r.State != consumer.StateFailed || r.RequestID != rec.RequestID || r.Generation != 1 {
		t.Errorf("record changed: %+v", r)
	}
}
