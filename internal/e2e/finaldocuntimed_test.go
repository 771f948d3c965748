package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// untimedRequests is the simulator's client, its answers about a request
// stripped of timestamp_stati (an upstream that does not send them), and
// its downloads timed.
type untimedRequests struct{ *timedDocuments }

func (c untimedRequests) Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error) {
	r, err := c.Client.Richiesta(ctx, id)
	if r != nil {
		r.TimestampStati = visengine.TimestampStati{}
	}
	return r, err
}

// TestUntimedFinalDocumentBacksOff: a request the upstream fulfils
// straight from a state before Dati disponibili (a service without a
// receipt, or one polled only then), without timestamp_stati, and whose
// final document it fails on, is retried with the same backoff as any
// final document: the retries must not stay at the retry delay until the
// maximum age for want of a time the request reached Visura evasa.
func TestUntimedFinalDocumentBacksOff(t *testing.T) {
	finalDocumentBacksOff(t, "emp-untimed", "without timestamp_stati",
		func(d *timedDocuments) timedUpstream { return untimedRequests{d} })
}

// timedUpstream is an upstream whose document downloads are timed.
type timedUpstream interface {
	tracking.Upstream
	times() []time.Time
}

// finalDocumentBacksOff runs submission id to a request the upstream
// fulfils at once, through the upstream wrap makes of the simulator's
// client, and fails on its final document; each retry of the download must
// wait at least half the time since the submission. how says what is odd
// about the request, for the message.
func finalDocumentBacksOff(t *testing.T, id, how string, wrap func(*timedDocuments) timedUpstream) {
	t.Helper()
	s := trackSetup{
		sim: sim.Config{
			// In Visura evasa at once.
			Lifetime: func(string, time.Time, uint64) (time.Duration, time.Duration) { return 0, time.Nanosecond },
			Faults:   sim.Faults{Errors: map[string]sim.ErrorFault{"GET /documento/{id}": {Rate: 1, Status: 500}}},
		},
		// The first poll after 50ms, the next scheduled one an hour later;
		// a failed poll is retried after 50ms (the schedule's first step).
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{50 * time.Millisecond, time.Hour}},
	}
	h := newTrackHarness(t, s)
	up := wrap(&timedDocuments{Client: h.Client})
	h.upstream = up
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission(id, pipetest.ValidFields("Mario")), nil)
	const calls = 6
	pipetest.WaitFor(t, 60*time.Second, fmt.Sprintf("%d downloads of the final document", calls), func() bool { return len(up.times()) >= calls })
	r := h.Record(id)
	if r.StatoRichiesta != visengine.StateFulfilled {
		t.Fatalf("record: upstream state %q, want %q", r.StatoRichiesta, visengine.StateFulfilled)
	}
	submitted := r.SubmittedAt()
	ts := up.times()
	var gaps []string
	bad := false
	for i := 1; i < calls; i++ {
		gap, since := ts[i].Sub(ts[i-1]), ts[i-1].Sub(submitted)
		gaps = append(gaps, fmt.Sprintf("%v after %v since the submission", gap.Round(time.Millisecond), since.Round(time.Millisecond)))
		if i >= 2 && gap < since/2 {
			bad = true
		}
	}
	if bad {
		t.Errorf("a final document the upstream fails on, of a request fulfilled %s, was asked again sooner than half the time since its submission: %s",
			how, strings.Join(gaps, "; "))
	}
}

// aheadRequests is the simulator's client, its answers' timestamp_stati
// written in microseconds (read as milliseconds: thousands of years ahead).
type aheadRequests struct{ *timedDocuments }

func (c aheadRequests) Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error) {
	r, err := c.Client.Richiesta(ctx, id)
	if r != nil {
		ts := &r.TimestampStati
		for _, at := range []*visengine.Timestamp{&ts.InErogazione, &ts.DatiDisponibili, &ts.VisuraEvasa} {
			if *at != 0 {
				*at = visengine.Timestamp(at.Time().UnixMicro())
			}
		}
	}
	return r, err
}

// TestTimestampsAheadDoNotStopTracking: timestamp_stati in another unit
// (microseconds, read as milliseconds: past the year 9999) or otherwise
// ahead must not stop tracking: no event or record with such a time can
// be written, and every poll failed, at the retry delay, until tracking
// gave up on a request the upstream fulfilled. A state reached in the
// future is entered as reached now.
func TestTimestampsAheadDoNotStopTracking(t *testing.T) {
	h := newTrackHarness(t, fastTracking(50*time.Millisecond))
	h.upstream = aheadRequests{&timedDocuments{Client: h.Client}}
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-ahead", pipetest.ValidFields("Mario")), nil)
	r := h.waitClosed("emp-ahead", 20*time.Second)
	if r.State != record.StateCompleted {
		t.Fatalf("got %s, want completed", r.State)
	}
	pipetest.CheckDocuments(t, h.Events("emp-ahead"), r)
	for _, tr := range r.Timeline {
		if tr.At.After(time.Now()) {
			t.Errorf("timeline: %s at %v, in the future", tr.State, tr.At)
		}
	}
}
