package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go/jetstream"
)

// TestFinalDocumentSameAsAReceiptInTheSharedBucketGoesToTheTenants: a
// request whose DSU receipt an earlier iseed stored in the shared documents
// bucket (before buckets per tenant), and whose final document is the same
// bytes (the simulator serves one document in both states), must have its
// final document in the tenant's own bucket: the shared one is readable by
// operators only, and a document_ready naming it tells the tenant of a
// certificate it cannot read.
func TestFinalDocumentSameAsAReceiptInTheSharedBucketGoesToTheTenants(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{
		// In Dati disponibili at once, in Visura evasa a moment later.
		Lifetime: func(string, time.Time, uint64) (time.Duration, time.Duration) { return 0, 300 * time.Millisecond },
	}})
	ctx := context.Background()
	const id = "emp-legacy"
	reqID := h.openRequest(ctx, id)
	// The receipt, as an earlier iseed stored it in the shared bucket.
	var receipt bytes.Buffer
	doc, err := h.Client.Documento(ctx, reqID, &receipt)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(receipt.Bytes())
	hexSum := hex.EncodeToString(sum[:])
	shared := h.Res.Layout.DocumentsBucket()
	object := tracking.DocumentObject(pipetest.Tenant, id, hexSum, doc.Nome)
	if _, err := h.Res.Documents.Put(ctx, jetstream.ObjectMeta{Name: object, Metadata: map[string]string{
		tracking.DocMetaSHA256: hexSum, tracking.DocMetaSize: strconv.Itoa(receipt.Len()), tracking.DocMetaContentType: "application/pdf",
		tracking.DocMetaTenant: pipetest.Tenant, tracking.DocMetaSubmission: id, tracking.DocMetaRequest: reqID,
	}}, bytes.NewReader(receipt.Bytes())); err != nil {
		t.Fatal(err)
	}
	store := record.NewStore(h.Res.Records)
	rec, rev, err := store.Get(ctx, pipetest.Tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec.To(record.StateInProgress, now, "upstream: "+visengine.StateInProgress)
	rec.To(record.StateDataReady, now, "upstream: "+visengine.StateDataReady)
	rec.StatoRichiesta = visengine.StateDataReady
	rec.Document = &record.DocumentRef{Bucket: shared, Object: object, Size: int64(receipt.Len()), SHA256: hexSum,
		ContentType: "application/pdf", Stato: visengine.StateDataReady}
	if _, err := store.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 10*time.Second, "the upstream request to be fulfilled", func() bool {
		r, err := h.Client.Richiesta(ctx, reqID)
		return err == nil && r.StatoRichiesta == visengine.StateFulfilled
	})
	tr := h.newTracker(nil)
	if err := tr.Refresh(ctx, pipetest.Tenant, id); err != nil { // a callback's, or a poll's
		t.Fatal(err)
	}
	r := h.Record(id)
	if r.State != record.StateCompleted || r.Document == nil {
		t.Fatalf("record: got state %q, document %+v; want completed with its final document", r.State, r.Document)
	}
	own := h.Res.Layout.TenantDocumentsBucket(pipetest.Tenant)
	if r.Document.Bucket != own {
		t.Errorf("final document recorded in bucket %q, want the tenant's %q", r.Document.Bucket, own)
	}
	for _, d := range pipetest.CheckDocuments(t, h.Events(id), r) {
		if d.Final && d.Bucket != own {
			t.Errorf("final document_ready names bucket %q, want the tenant's %q", d.Bucket, own)
		}
	}
	if _, err := h.documentsBucket(pipetest.Tenant).GetInfo(ctx, r.Document.Object); err != nil {
		t.Errorf("the final document in the tenant's bucket: %v", err)
	}
}
