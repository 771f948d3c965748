package e2e_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
)

// changingDocuments serves one document in "Dati disponibili" (the DSU
// receipt) and another in "Visura evasa" (the certificate).
type changingDocuments struct{ *visengine.Client }

func (c changingDocuments) Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error) {
	r, err := c.Richiesta(ctx, id)
	if err != nil {
		return nil, err
	}
	body := []byte("%PDF-1.4 ricevuta DSU")
	if r.StatoRichiesta == visengine.StateFulfilled {
		body = []byte("%PDF-1.4 attestazione ISEE")
	}
	n, err := w.Write(body)
	return &visengine.Document{Nome: id + ".pdf", Dimensione: int64(len(body)), Written: int64(n)}, err
}

func TestFinalDocumentReplacesTheEarlierOne(t *testing.T) {
	h := newTrackHarness(t, fastTracking(150*time.Millisecond))
	h.upstream = changingDocuments{h.Client}
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-final", pipetest.ValidFields("Mario")), nil)
	r := h.waitClosed("emp-final", 20*time.Second)
	final := sha256.Sum256([]byte("%PDF-1.4 attestazione ISEE"))
	if r.Document == nil || r.Document.SHA256 != hex.EncodeToString(final[:]) || r.Document.Stato != visengine.StateFulfilled {
		t.Fatalf("stored document: got %+v, want the certificate fetched in Visura evasa", r.Document)
	}
	var got bytes.Buffer
	if _, err := tracking.FetchDocument(context.Background(), h.NATS.JS, h.Res, pipetest.Tenant, "emp-final", nil, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), []byte("%PDF-1.4 attestazione ISEE")) {
		t.Errorf("object content: got %q, want the certificate", got.Bytes())
	}
	docs := pipetest.CheckDocuments(t, h.Events("emp-final"), r)
	if len(docs) != 2 || docs[0].Final || docs[0].SHA256 == r.Document.SHA256 || !docs[1].Final {
		t.Errorf("document_ready events: got %+v, want the receipt's, then the certificate's", docs)
	}
}
