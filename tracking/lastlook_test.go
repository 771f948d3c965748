package tracking

import (
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// deferringUpstream fails as a poll whose retry the schedule sets: the
// request unknown (404), or its DSU receipt not served yet (422 in Dati
// disponibili), or its final document over the size limit.
type deferringUpstream struct {
	richiesta func(id string) (*visengine.Richiesta, error)
	documento error
}

func (u *deferringUpstream) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	return u.richiesta(id)
}

func (u *deferringUpstream) Documento(context.Context, string, io.Writer) (*visengine.Document, error) {
	return nil, u.documento
}

// TestLastLookEndsWithinItsGrace: a last look before a give-up (past
// MaxAge) that fails is tried again within LastLookGrace, and tracking
// gives up at its end at the latest. A failure whose retry the schedule
// sets (a request the upstream does not know, a receipt not served yet, a
// document over the size limit) waited for the next scheduled poll, a
// working day or more past the grace, and the tenant was told failed that
// much later than ISEED_TRACK_MAX_AGE and the hour's grace say.
func TestLastLookEndsWithinItsGrace(t *testing.T) {
	notFound := func(string) (*visengine.Richiesta, error) {
		return nil, &visengine.Error{Op: "GET /richiesta/{id}", Status: 404, Class: visengine.ClassNotFound}
	}
	ready := func(id string) (*visengine.Richiesta, error) {
		return &visengine.Richiesta{ID: id, StatoRichiesta: visengine.StateDataReady}, nil
	}
	fulfilled := func(id string) (*visengine.Richiesta, error) {
		return &visengine.Richiesta{ID: id, StatoRichiesta: visengine.StateFulfilled}, nil
	}
	tests := []struct {
		name string
		up   *deferringUpstream
	}{
		{"the request unknown upstream", &deferringUpstream{richiesta: notFound}},
		{"its receipt not served yet", &deferringUpstream{richiesta: ready, documento: &visengine.Error{Op: "GET /documento/{id}",
			Status: 422, Code: 247, Class: visengine.ClassNotReady}}},
		{"its final document over the size limit", &deferringUpstream{richiesta: fulfilled, documento: &visengine.Error{Op: "GET /documento/{id}",
			Status: 200, Class: visengine.ClassPermanent, Err: visengine.ErrResponseTooLarge}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := pipetest.New(t)
			ctx := context.Background()
			t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday
			var mu sync.Mutex
			now := t0
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			const id = "emp-last-look"
			putInProgress(h, id, "r-last-look", t0)
			const maxAge, grace = 72 * time.Hour, time.Hour
			tr, err := New(Config{Now: clock, MaxAge: maxAge, LastLookGrace: grace, TempDir: t.TempDir(),
				Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)},
				Deps{Resources: h.Res, Upstream: tt.up, Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS})
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Track(ctx, h.Record(id)); err != nil {
				t.Fatal(err)
			}
			msg, meta, tk := fetchTask(t, h)
			mu.Lock()
			now = t0.Add(maxAge + time.Second) // the last look, due a second past the maximum age
			mu.Unlock()
			o := tr.poll(ctx, tk, meta, msg)
			if o.Final || o.Err == nil {
				t.Fatalf("the last look: final %v, error %v; want it failed, to be tried again", o.Final, o.Err)
			}
			if st := h.Record(id).State; st == record.StateFailed {
				t.Fatalf("record %s after the first last look; want it still tracked", st)
			}
			act := decideTrack(o, tr.nextPoll(tk, meta, o), tr.cfg.Timebase.Delay(clock(), tr.cfg.RetryDelay), tr.cfg)
			if end := t0.Add(maxAge + grace + time.Second); act.Ack || clock().Add(act.Delay).After(end) {
				t.Errorf("the last look tried again after %v (at %v); want by the end of its grace, %v", act.Delay, clock().Add(act.Delay), end)
			}
			// At the end of the grace, the look failing again gives up.
			mu.Lock()
			now = t0.Add(maxAge + grace + time.Second)
			mu.Unlock()
			if o := tr.poll(ctx, tk, meta, msg); !o.Final {
				t.Errorf("the look at the end of the grace: final %v, error %v; want the give-up", o.Final, o.Err)
			}
			if rec := h.Record(id); rec.State != record.StateFailed || rec.Reason != dlq.ReasonGaveUp {
				t.Errorf("record %s (%s), want failed (gave_up)", rec.State, rec.Reason)
			}
		})
	}
}
