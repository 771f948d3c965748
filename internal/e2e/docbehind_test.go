package e2e_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
)

// behindUpstream answers the reads in states, one each (the last
// repeating), and serves, in each, the document the upstream serves then:
// none in Visura evasa before the certificate is ready (422), the DSU
// receipt in Dati disponibili, the certificate once ready.
type behindUpstream struct {
	mu     sync.Mutex
	states []string
	state  string
	ready  bool // the certificate is served in Visura evasa
}

func (u *behindUpstream) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.state = u.states[0]
	if len(u.states) > 1 {
		u.states = u.states[1:]
	}
	return &visengine.Richiesta{ID: id, StatoRichiesta: u.state}, nil
}

func (u *behindUpstream) Documento(_ context.Context, id string, w io.Writer) (*visengine.Document, error) {
	u.mu.Lock()
	state, ready := u.state, u.ready
	u.mu.Unlock()
	switch {
	case state == visengine.StateDataReady:
		return pdfAnswer(w, id, []byte("%PDF-1.4 ricevuta DSU"))
	case ready:
		return pdfAnswer(w, id, []byte("%PDF-1.4 attestazione ISEE"))
	}
	return nil, &visengine.Error{Op: "GET /documento/{id}", Status: 422, Code: 247, Class: visengine.ClassNotReady}
}

// TestDocumentOfAnEarlierStateIsNotFinal: a read that answers an earlier
// state than the record holds (a lagging replica, a cache) after Visura
// evasa whose certificate was not served yet makes tracking download what
// the upstream serves in that state, the DSU receipt: it must not be
// taken for the final document, announced final, and the request
// completed without its ISEE certificate.
func TestDocumentOfAnEarlierStateIsNotFinal(t *testing.T) {
	h := newTrackHarness(t, fastTracking(time.Hour))
	up := &behindUpstream{states: []string{visengine.StateFulfilled, visengine.StateDataReady, visengine.StateFulfilled}}
	tr := h.bareTracker(up)
	h.putTracked("emp-behind", "req-behind", record.StateInProgress, visengine.StateInProgress)
	ctx := context.Background()
	// Visura evasa, the certificate not served yet: the record waits for it.
	if err := tr.Refresh(ctx, pipetest.Tenant, "emp-behind"); visengine.ClassOf(err) != visengine.ClassNotReady {
		t.Fatalf("first read: got %v, want the certificate not ready", err)
	}
	// A read behind: Dati disponibili, and its receipt.
	if err := tr.Refresh(ctx, pipetest.Tenant, "emp-behind"); err != nil {
		t.Fatal(err)
	}
	up.mu.Lock()
	up.ready = true
	up.mu.Unlock()
	// Visura evasa again, the certificate served.
	if err := tr.Refresh(ctx, pipetest.Tenant, "emp-behind"); err != nil {
		t.Fatal(err)
	}
	r := h.Record("emp-behind")
	var got bytes.Buffer
	if _, err := tracking.FetchDocument(ctx, h.NATS.JS, h.Res, pipetest.Tenant, "emp-behind", nil, &got); err != nil {
		t.Fatalf("the stored document: %v", err)
	}
	if r.State != record.StateCompleted || got.String() != "%PDF-1.4 attestazione ISEE" {
		t.Errorf("record %s with document %q (stato %q); want completed with the certificate", r.State, got.String(), r.Document.Stato)
	}
	for _, d := range pipetest.DocumentEvents(t, h.Events("emp-behind")) {
		if d.Final && d.Stato != visengine.StateFulfilled || d.Final && d.SHA256 != r.Document.SHA256 {
			t.Errorf("document event final with stato %q, sha256 %.16s; want only the certificate's (%.16s) final", d.Stato, d.SHA256, r.Document.SHA256)
		}
	}
}
