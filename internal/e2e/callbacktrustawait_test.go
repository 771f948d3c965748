package e2e_test

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// fulfilledNotServed answers every read "Visura evasa", and every
// download 422 (a certificate not served yet) until served is set. It
// counts the reads per request.
type fulfilledNotServed struct {
	mu     sync.Mutex
	reads  map[string]int
	served bool
}

func (u *fulfilledNotServed) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	u.mu.Lock()
	u.reads[id]++
	u.mu.Unlock()
	return &visengine.Richiesta{ID: id, StatoRichiesta: visengine.StateFulfilled}, nil
}

func (u *fulfilledNotServed) Documento(_ context.Context, id string, w io.Writer) (*visengine.Document, error) {
	u.mu.Lock()
	served := u.served
	u.mu.Unlock()
	if served {
		return pdfAnswer(w, id, []byte("%PDF-1.4 attestazione ISEE "+id))
	}
	return nil, &visengine.Error{Op: "GET /documento/{id}", Status: 422, Code: 247, Class: visengine.ClassNotReady}
}

func (u *fulfilledNotServed) read(id string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reads[id]
}

// TestAwaitedCertificateIsNoNewsOfLostCallbacks: a request whose Visura
// evasa a callback announced (the record holds it) waits in data_ready
// for its certificate, which the upstream serves later. The poll that
// stores it finds nothing a callback did not bring: it must not count as
// news no callback announced, and three such requests an hour after the
// last callback must not make callbacks look lost (polls unstretched,
// IseedCallbacksLost firing).
func TestAwaitedCertificateIsNoNewsOfLostCallbacks(t *testing.T) {
	t.Parallel() // its own server, simulator and tracker; 22 s of waiting for its schedule
	h := newTrackHarness(t, trackSetup{})
	day := 2 * time.Second
	tb := tracking.Timebase{Scale: float64(24*time.Hour) / float64(day), Real: time.Now(), Sim: time.Now()}
	up := &fulfilledNotServed{reads: map[string]int{}}
	logs, reg := &pipetest.Buffer{}, prometheus.NewRegistry()
	tr, err := tracking.New(tracking.Config{Workers: 2, Timebase: tb, TempDir: t.TempDir(),
		Polling: tracking.Polling{Callbacks: true}, Logger: zerolog.New(logs)},
		tracking.Deps{Resources: h.Res, Upstream: up, Events: publisher.New(h.NATS.JS, publisher.Config{}),
			Publisher: h.NATS.JS, Metrics: tracking.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"emp-await-1", "emp-await-2", "emp-await-3"}
	promised := true
	for _, id := range ids {
		now := time.Now()
		h.PutRecord(id, pipetest.ValidFields("Mario"), func(r *record.Record) {
			r.State, r.RequestID, r.StatoRichiesta, r.Pending, r.Callback = record.StateDataReady, "req-"+id, visengine.StateFulfilled, nil, &promised
			r.Created, r.Updated = now, now
			for _, s := range []string{record.StateSubmitted, record.StateInProgress, record.StateDataReady} {
				r.Timeline = append(r.Timeline, record.Transition{State: s, At: now})
			}
		})
		if err := tr.Track(context.Background(), h.Record(id)); err != nil {
			t.Fatal(err)
		}
	}
	h.runTracker(tr)
	// Each read, then read again more than an hour (of the schedule's
	// clock: 83 ms) after the tracker started.
	start := time.Now()
	pipetest.WaitFor(t, 30*time.Second, "every request read", func() bool {
		for _, id := range ids {
			if up.read("req-"+id) < 1 {
				return false
			}
		}
		return true
	})
	late := map[string]int{}
	for _, id := range ids {
		late[id] = up.read("req-" + id)
	}
	pipetest.WaitFor(t, 30*time.Second, "every request read again, an hour in", func() bool {
		for _, id := range ids {
			if up.read("req-"+id) <= late[id] || time.Since(start) < 2*time.Duration(float64(time.Hour)/tb.Scale) {
				return false
			}
		}
		return true
	})
	up.mu.Lock()
	up.served = true
	up.mu.Unlock()
	for _, id := range ids {
		if r := h.waitClosed(id, 30*time.Second); r.State != record.StateCompleted {
			t.Fatalf("%s: got %s, want completed", id, r.State)
		}
	}
	if got := gauge(t, reg, "iseed_callbacks_trusted"); got != 1 {
		t.Errorf("iseed_callbacks_trusted: got %v, want 1 (no poll found news a callback had not brought); logs:\n%s", got, logs.String())
	}
}
