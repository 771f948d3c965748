package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// raceUpstream answers "Dati disponibili" to the first read and "Visura
// evasa" after; the first document download (the DSU receipt) is held
// until released, later ones serve the certificate.
type raceUpstream struct {
	gets, docs atomic.Int32
	release    chan struct{}
}

func (u *raceUpstream) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	r := &visengine.Richiesta{ID: id, StatoRichiesta: visengine.StateDataReady}
	if u.gets.Add(1) > 1 {
		r.StatoRichiesta = visengine.StateFulfilled
	}
	return r, nil
}

func (u *raceUpstream) Documento(_ context.Context, id string, w io.Writer) (*visengine.Document, error) {
	body := []byte("%PDF-1.4 attestazione ISEE")
	if u.docs.Add(1) == 1 {
		<-u.release
		body = []byte("%PDF-1.4 ricevuta DSU")
	}
	return pdfAnswer(w, id, body)
}

// putTracked stores id's record as tracking left it: request req, in state
// (submitted, in_progress or data_ready) with the upstream state stato,
// through the states before it, all now.
func (h *trackHarness) putTracked(id, req, state, stato string) {
	h.T.Helper()
	now := time.Now()
	h.PutRecord(id, pipetest.ValidFields("Mario"), func(r *record.Record) {
		r.State, r.RequestID, r.StatoRichiesta, r.Pending = state, req, stato, nil
		r.Created, r.Updated = now, now
		for _, s := range []string{record.StateSubmitted, record.StateInProgress, record.StateDataReady} {
			r.Timeline = append(r.Timeline, record.Transition{State: s, At: now})
			if s == state {
				break
			}
		}
	})
}

// bareTracker is a tracker on up with the default settings, not running.
func (h *trackHarness) bareTracker(up tracking.Upstream) *tracking.Tracker {
	h.T.Helper()
	tr, err := tracking.New(tracking.Config{TempDir: h.T.TempDir(), Logger: zerolog.Nop()},
		tracking.Deps{Resources: h.Res, Upstream: up,
			Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS})
	if err != nil {
		h.T.Fatal(err)
	}
	return tr
}

// A poll that read an earlier state and downloads slowly loses the race to
// a callback that stored the final document: the final document stays
// stored and recorded, and the record's upstream state does not go back.
func TestStalePollDoesNotOverwriteTheFinalDocument(t *testing.T) {
	h := newTrackHarness(t, fastTracking(time.Hour))
	up := &raceUpstream{release: make(chan struct{})}
	tr := h.bareTracker(up)
	h.putTracked("emp-race", "req-race", record.StateInProgress, visengine.StateInProgress)
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() { _ = tr.Refresh(ctx, pipetest.Tenant, "emp-race") }) // the poll: Dati disponibili
	pipetest.WaitFor(t, 5*time.Second, "the poll's download", func() bool { return up.docs.Load() == 1 })
	if err := tr.Refresh(ctx, pipetest.Tenant, "emp-race"); err != nil { // the callback: Visura evasa
		t.Fatal(err)
	}
	close(up.release)
	wg.Wait()
	var got bytes.Buffer
	if _, err := tracking.FetchDocument(ctx, h.NATS.JS, h.Res, pipetest.Tenant, "emp-race", nil, &got); err != nil {
		t.Fatalf("the stored final document: %v", err)
	}
	if got.String() != "%PDF-1.4 attestazione ISEE" {
		t.Errorf("stored document: got %q, want the certificate", got.String())
	}
	if r := h.Record("emp-race"); r.State != record.StateCompleted || r.StatoRichiesta != visengine.StateFulfilled {
		t.Errorf("record: state %s, stato %q; want completed, Visura evasa", r.State, r.StatoRichiesta)
	}
}

// countingUpstream answers every read with a request in progress.
type countingUpstream struct{ gets atomic.Int32 }

func (u *countingUpstream) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	u.gets.Add(1)
	return &visengine.Richiesta{ID: id, StatoRichiesta: visengine.StateInProgress}, nil
}

func (u *countingUpstream) Documento(context.Context, string, io.Writer) (*visengine.Document, error) {
	return nil, errors.New("no document yet")
}

// A callback for a request the pipeline has not started tracking yet (its
// "submitted" event may not have gone out) changes nothing: later states
// never come before "submitted". Once the task is there it refreshes.
func TestCallbackBeforeTrackingWaitsForTheTask(t *testing.T) {
	h := newTrackHarness(t, fastTracking(time.Hour))
	up := &countingUpstream{}
	tr := h.bareTracker(up)
	h.putTracked("emp-early", "req-early", record.StateSubmitted, "")
	ctx := context.Background()
	if err := tr.Refresh(ctx, pipetest.Tenant, "emp-early"); err != nil {
		t.Fatal(err)
	}
	if n, evs := up.gets.Load(), h.EventTypes("emp-early"); n != 0 || len(evs) != 0 || h.Record("emp-early").State != record.StateSubmitted {
		t.Fatalf("before tracking: %d upstream reads, events %v, state %s; want none, none, submitted", n, evs, h.Record("emp-early").State)
	}
	if err := tr.Track(ctx, h.Record("emp-early")); err != nil {
		t.Fatal(err)
	}
	if err := tr.Refresh(ctx, pipetest.Tenant, "emp-early"); err != nil {
		t.Fatal(err)
	}
	if n, r := up.gets.Load(), h.Record("emp-early"); n != 1 || r.State != record.StateInProgress {
		t.Errorf("once tracked: %d upstream reads, state %s; want 1, in_progress", n, r.State)
	}
}
