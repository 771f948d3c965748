package e2e_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// heldUpstream answers every read with "Visura evasa"; the first read is
// held until released. It counts document downloads.
type heldUpstream struct {
	gets, docs atomic.Int32
	release    chan struct{}
}

func (u *heldUpstream) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	if u.gets.Add(1) == 1 {
		<-u.release
	}
	return &visengine.Richiesta{ID: id, StatoRichiesta: visengine.StateFulfilled}, nil
}

func (u *heldUpstream) Documento(_ context.Context, id string, w io.Writer) (*visengine.Document, error) {
	u.docs.Add(1)
	return pdfAnswer(w, id, []byte("%PDF-1.4 attestazione ISEE"))
}

// A poll whose upstream read is answered after a callback completed the
// request (final document stored, record completed) does not download the
// final document again: the download takes the upstream budget, and the
// document is stored already.
func TestLateCatchUpDoesNotDownloadTheFinalDocumentAgain(t *testing.T) {
	h := newTrackHarness(t, fastTracking(time.Hour))
	up := &heldUpstream{release: make(chan struct{})}
	tr := h.bareTracker(up)
	h.putTracked("emp-twice", "req-twice", record.StateDataReady, visengine.StateDataReady)
	ctx := context.Background()
	var wg sync.WaitGroup
	var pollErr error
	wg.Go(func() { pollErr = tr.Refresh(ctx, pipetest.Tenant, "emp-twice") }) // the poll, its read held
	pipetest.WaitFor(t, 5*time.Second, "the poll's upstream read", func() bool { return up.gets.Load() == 1 })
	if err := tr.Refresh(ctx, pipetest.Tenant, "emp-twice"); err != nil { // the callback
		t.Fatal(err)
	}
	if r := h.Record("emp-twice"); !r.Closed() {
		t.Fatalf("after the callback: record %s, want completed with its final document", r.State)
	}
	close(up.release)
	wg.Wait()
	if pollErr != nil {
		t.Fatalf("the poll: %v", pollErr)
	}
	if n := up.docs.Load(); n != 1 {
		t.Errorf("the final document was downloaded %d times, want once", n)
	}
	if r := h.Record("emp-twice"); !r.Closed() || r.StatoRichiesta != visengine.StateFulfilled {
		t.Errorf("record: state %s, stato %q; want completed, Visura evasa", r.State, r.StatoRichiesta)
	}
	if got := h.typeCounts("emp-twice"); got["iseed.submission.completed"] != 1 || got["iseed.document.ready"] != 1 {
		t.Errorf("events: %v; want one completed and one document ready", got)
	}
}

// backUpstream answers the first read "Dati disponibili" and later ones
// "Visura evasa"; the first download (the poll's DSU receipt) is held
// until released, later ones fail (the final document is not available
// yet).
type backUpstream struct {
	gets, docs atomic.Int32
	release    chan struct{}
}

func (u *backUpstream) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	ts := visengine.Timestamp(time.Now().Add(-time.Minute).Unix())
	r := &visengine.Richiesta{ID: id, StatoRichiesta: visengine.StateDataReady,
		TimestampStati: visengine.TimestampStati{InErogazione: ts, DatiDisponibili: ts}}
	if u.gets.Add(1) > 1 {
		r.StatoRichiesta, r.TimestampStati.VisuraEvasa = visengine.StateFulfilled, ts
	}
	return r, nil
}

func (u *backUpstream) Documento(_ context.Context, id string, w io.Writer) (*visengine.Document, error) {
	if u.docs.Add(1) > 1 {
		return nil, errors.New("document not available yet")
	}
	<-u.release
	return pdfAnswer(w, id, []byte("%PDF-1.4 ricevuta DSU"))
}

// A poll that read "Dati disponibili" and downloads the DSU receipt while
// a callback records "Visura evasa" (its final document not available
// yet) stores the receipt without moving the record's upstream state back
// to "Dati disponibili": the record still awaits its final document.
func TestStaleCatchUpDoesNotMoveTheUpstreamStateBack(t *testing.T) {
	h := newTrackHarness(t, fastTracking(time.Hour))
	up := &backUpstream{release: make(chan struct{})}
	tr := h.bareTracker(up)
	h.putTracked("emp-back", "req-back", record.StateInProgress, visengine.StateInProgress)
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() { _ = tr.Refresh(ctx, pipetest.Tenant, "emp-back") }) // the poll: Dati disponibili
	pipetest.WaitFor(t, 5*time.Second, "the poll's download", func() bool { return up.docs.Load() == 1 })
	_ = tr.Refresh(ctx, pipetest.Tenant, "emp-back") // the callback: Visura evasa, no document yet
	if r := h.Record("emp-back"); r.State != record.StateDataReady || r.StatoRichiesta != visengine.StateFulfilled {
		t.Fatalf("after the callback: state %s, stato %q; want data_ready, Visura evasa", r.State, r.StatoRichiesta)
	}
	close(up.release)
	wg.Wait()
	r := h.Record("emp-back")
	if r.StatoRichiesta != visengine.StateFulfilled {
		t.Errorf("record's upstream state: got %q, want %q (it went back)", r.StatoRichiesta, visengine.StateFulfilled)
	}
	if r.State != record.StateDataReady || r.Document == nil || r.Document.Stato != visengine.StateDataReady {
		t.Errorf("record: state %s, document %+v; want data_ready with the DSU receipt", r.State, r.Document)
	}
}
