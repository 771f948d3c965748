package retention_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/retention"
	"github.com/rs/zerolog"
)

// TestScrubTakesAStallForOne: a fetch lost while old entries remain (a
// loaded server) is tried again, not taken for the end of the stream: the
// pass ended there, "done", and left the rest for the next, an hour
// (Config.Every) later.
func TestScrubTakesAStallForOne(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"a", "b", "c"} {
		e.put(id, record.StateCompleted, nil)
	}
	proxy := natstest.NewDropProxy(t, e.srv.Addr().String())
	pulls := new(atomic.Int64)
	proxy.Drop = func(subject string) bool {
		return strings.HasPrefix(subject, "$JS.API.CONSUMER.MSG.NEXT.KV_") && pulls.Add(1) == 2
	}
	nc, js := natstest.Connect(t, proxy.URL)
	t.Cleanup(nc.Close)
	s, err := retention.New(retention.Config{After: after, Batch: 1, FetchWait: 200 * time.Millisecond,
		Now: func() time.Time { return time.Now().Add(after + time.Minute) }, Logger: zerolog.New(zerolog.NewTestWriter(t))},
		retention.Deps{JS: js, Records: e.res.Records, Keys: e.res.Keys})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Scrub(context.Background()); err != nil || res.Scrubbed != 3 {
		t.Errorf("Scrub with its second fetch lost: got %+v, error %v; want 3 scrubbed", res, err)
	}
}

// scrubberOn is e.scrubber reading the records' stream through a
// JetStream whose fetches fail picks with "no responders" (with Batch 1:
// one fetch per entry).
func (e *env) scrubberOn(now time.Time, fail func(n int64) bool) *retention.Scrubber {
	e.t.Helper()
	s, err := retention.New(retention.Config{After: after, Batch: 1, FetchWait: 200 * time.Millisecond,
		Now: func() time.Time { return now }, Logger: zerolog.New(zerolog.NewTestWriter(e.t))},
		retention.Deps{JS: natstest.NewNoRespondersJS(e.js, fail), Records: e.res.Records, Keys: e.res.Keys})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// TestScrubRidesOutNoResponders: a fetch of the records answered "no
// responders", as a cluster's may be, is tried again, and the pass scrubs
// every old closed record; three in a row end it with an error, from its
// checkpoint. The first one failed the pass, and the scrub waited an hour
// (Config.Every) to try again.
func TestScrubRidesOutNoResponders(t *testing.T) {
	for _, tt := range []struct {
		name         string
		fail         func(n int64) bool
		wantErr      bool
		wantScrubbed int
	}{
		{"the first fetch", func(n int64) bool { return n == 1 }, false, 3},
		{"the second and third", func(n int64) bool { return n == 2 || n == 3 }, false, 3},
		{"every fetch after the first", func(n int64) bool { return n >= 2 }, true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			for _, id := range []string{"a", "b", "c"} {
				e.put(id, record.StateCompleted, nil)
			}
			res, err := e.scrubberOn(time.Now().Add(after+time.Minute), tt.fail).Scrub(context.Background())
			if (err != nil) != tt.wantErr || res.Scrubbed != tt.wantScrubbed {
				t.Errorf("Scrub: got %+v, error %v; want %d scrubbed, an error: %v", res, err, tt.wantScrubbed, tt.wantErr)
			}
		})
	}
}

// TestScrubOfAStreamDeletedMeanwhile: a records bucket deleted during a
// pass ends it with an error. Its ordered consumer makes a consumer anew
// for each fetch, and by default tries that for ever, whatever ctx says:
// the pass, and the daemon's shutdown waiting for it, hung.
func TestScrubOfAStreamDeletedMeanwhile(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"a", "b", "c"} {
		e.put(id, record.StateCompleted, nil)
	}
	bucket := e.res.Records.Bucket()
	s := e.scrubberOn(time.Now().Add(after+time.Minute), func(n int64) bool {
		if n == 2 {
			if err := e.js.DeleteKeyValue(context.Background(), bucket); err != nil {
				t.Errorf("delete the records bucket: %v", err)
			}
		}
		return false
	})
	done := make(chan error, 1)
	go func() {
		_, err := s.Scrub(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Scrub of a records bucket deleted meanwhile: got no error, want one")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Scrub of a records bucket deleted meanwhile has not returned in 30 s")
	}
}
