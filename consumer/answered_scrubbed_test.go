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
)

// TestReplayAdoptingAKeptIdRestoresScrubbedData: a submission failed as
// ambiguous whose record keeps the id its POST got back, replayed (as the
// refusal of audit disown tells the operator to) once the retention
// scrubbed the closed record. The replay adopts the kept id
// (answeredBefore) instead of reopening the record, which would have given
// it the payload's metadata and person key back (reopen): the submission,
// open again (submitted, then tracked), goes on without them, its events
// without the metadata its producer sent, its person unknown to the gate.
func TestReplayAdoptingAKeptIdRestoresScrubbedData(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := keptAnswer(t, h, "emp-ks")
	store := record.NewStore(h.Res.Records)
	ctx := context.Background()
	rec, rev, err := store.Get(ctx, pipetest.Tenant, "emp-ks")
	if err != nil {
		t.Fatal(err)
	}
	rec.Metadata, rec.PersonKey = json.RawMessage(`{"employee_id":"7781"}`), "person-"+pipetest.Tenant
	rec.To(record.StateFailed, time.Now(), dlq.ReasonAmbiguous)
	rec.Reason = dlq.ReasonAmbiguous
	if _, err := store.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	h.scrub("emp-ks")
	payload := pipetest.Submission("emp-ks", pipetest.ValidFields("Mario"))
	dl := dlq.DeadLetter{OriginalSubject: h.Res.Layout.SubmissionSubject(pipetest.Tenant), StreamSeq: 99,
		Tenant: pipetest.Tenant, SubmissionID: "emp-ks", Reason: dlq.ReasonAmbiguous, Generation: 1}
	if err := dlq.Publish(ctx, h.NATS.JS, h.Res.Layout, dl, payload, dlq.MsgID(pipetest.Tenant, "emp-ks", 1, dlq.ReasonAmbiguous)); err != nil {
		t.Fatal(err)
	}
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 10*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Gate = personGate{} }), pipetest.WithConfig(func(c *consumer.Config) { c.Callback = nil }))
	if err := h.Queue().Replay(ctx, dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	r := h.WaitState("emp-ks", record.StateSubmitted)
	if r.RequestID != id || h.Counter("POST /richiesta") != 1 {
		t.Fatalf("request %q, POSTs %d; want %s adopted, 1 POST (the test's)", r.RequestID, h.Counter("POST /richiesta"), id)
	}
	var meta map[string]string
	if err := json.Unmarshal(r.Metadata, &meta); err != nil || meta["employee_id"] != "7781" || r.PersonKey != "person-"+pipetest.Tenant || !r.Scrubbed.IsZero() {
		t.Errorf("adopted record: metadata %s, person key %q, scrubbed %v; want the payload's employee_id 7781, person-%s, not scrubbed",
			r.Metadata, r.PersonKey, r.Scrubbed, pipetest.Tenant)
	}
}
