package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/nats-io/nats.go/jetstream"
)

// A worker may have POSTed (the record keeps a pending attempt) and
// crashed; the file its submission references is gone when the next
// delivery resolves it. The submission fails as ambiguous with the attempt
// kept, so a replay after the file is restored reconciles before it sends.
func TestMissingFileAfterUnansweredPostIsAmbiguous(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	obs, err := h.nats.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "iseed_files_acme"})
	if err != nil {
		t.Fatal(err)
	}
	fields := validFields("Mario")
	fields["Copia documento d'identità"] = "carta.pdf|nats-os://iseed_files_acme/7781/carta.pdf"
	data := submission("emp-file", fields)
	sub, _ := consumer.DecodeSubmission(data)
	past := time.Now().Add(-time.Minute)
	rec := &consumer.Record{Tenant: tenant, ID: "emp-file", Fingerprint: sub.Fingerprint(), Generation: 1,
		State: consumer.StateClaimed, Attempts: 1, Created: past, Updated: past,
		Pending: &consumer.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second)}}
	b, _ := json.Marshal(rec)
	if _, err := h.res.Records.Create(ctx, consumer.RecordKey(tenant, "emp-file"), b); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.publish(data, nil) // redelivery: the object is missing now
	r := h.waitState("emp-file", consumer.StateFailed)
	if r.Reason != consumer.ReasonAmbiguous || r.Pending == nil {
		t.Fatalf("after the missing file: reason %q, pending %v; want ambiguous with the attempt kept", r.Reason, r.Pending)
	}
	if got := h.counter("POST /richiesta"); got != 0 {
		t.Fatalf("POSTs before the replay: got %d, want 0", got)
	}
	if _, err := obs.PutBytes(ctx, "7781/carta.pdf", []byte("%PDF-1.4 carta")); err != nil {
		t.Fatal(err)
	}
	var dls []consumer.DeadLetter
	waitFor(t, 5*time.Second, "the dead letter", func() bool { dls = h.deadLetters(); return len(dls) == 1 })
	if err := consumer.NewDLQ(h.nats.JS, h.res).Replay(ctx, dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	h.waitState("emp-file", consumer.StateSubmitted)
	if h.counter("GET /richiesta") < 1 {
		t.Error("the replay sent without reconciling first")
	}
	if got := h.counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}
