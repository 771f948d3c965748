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
	"github.com/nats-io/nats.go/jetstream"
)

// A worker may have POSTed (the record keeps a pending attempt) and
// crashed; the file its submission references is gone when the next
// delivery resolves it. The submission fails as ambiguous with the attempt
// kept, so a replay after the file is restored reconciles before it sends.
func TestMissingFileAfterUnansweredPostIsAmbiguous(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	obs, err := h.NATS.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "iseed_files_acme"})
	if err != nil {
		t.Fatal(err)
	}
	fields := pipetest.ValidFields("Mario")
	fields["Copia documento d'identità"] = "carta.pdf|nats-os://iseed_files_acme/7781/carta.pdf"
	data := pipetest.Submission("emp-file", fields)
	sub, _ := consumer.DecodeSubmission(data)
	past := time.Now().Add(-time.Minute)
	rec := &record.Record{Tenant: pipetest.Tenant, ID: "emp-file", Fingerprint: sub.Fingerprint(), Generation: 1,
		State: record.StateClaimed, Attempts: 1, Created: past, Updated: past,
		Pending: &record.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second)}}
	b, _ := json.Marshal(rec)
	if _, err := h.Res.Records.Create(ctx, record.Key(pipetest.Tenant, "emp-file"), b); err != nil {
		t.Fatal(err)
	}
	h.Start()
	h.Publish(data, nil) // redelivery: the object is missing now
	r := h.WaitState("emp-file", record.StateFailed)
	if r.Reason != dlq.ReasonAmbiguous || r.Pending == nil {
		t.Fatalf("after the missing file: reason %q, pending %v; want ambiguous with the attempt kept", r.Reason, r.Pending)
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Fatalf("POSTs before the replay: got %d, want 0", got)
	}
	if _, err := obs.PutBytes(ctx, "7781/carta.pdf", []byte("%PDF-1.4 carta")); err != nil {
		t.Fatal(err)
	}
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 5*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	if err := h.Queue().Replay(ctx, dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	h.WaitState("emp-file", record.StateSubmitted)
	if h.Counter("GET /richiesta") < 1 {
		t.Error("the replay sent without reconciling first")
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}
