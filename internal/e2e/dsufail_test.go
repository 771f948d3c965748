package e2e_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// timedDocuments is the simulator's client, noting when each GET
// /documento went out.
type timedDocuments struct {
	*visengine.Client
	mu    sync.Mutex
	calls []time.Time
}

func (c *timedDocuments) Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error) {
	c.mu.Lock()
	c.calls = append(c.calls, time.Now())
	c.mu.Unlock()
	return c.Client.Documento(ctx, id, w)
}

func (c *timedDocuments) times() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.calls...)
}

// TestFailingReceiptBacksOff: a request stays in "Dati disponibili" for
// days, and an upstream that fails on its DSU receipt (a 5xx every time)
// must not make it cost two calls every retry delay all that time, from
// the budget every poll shares. The retries back off as those of a final
// document do: each waits as long as the request has been in Dati
// disponibili (at least the retry delay, at most an hour, never past the
// next scheduled poll).
func TestFailingReceiptBacksOff(t *testing.T) {
	t.Parallel() // its own server, simulator and tracker; it waits out growing retry delays
	s := trackSetup{
		sim: sim.Config{
			// In Dati disponibili at once, and for an hour.
			Lifetime: func(string, time.Time, uint64) (time.Duration, time.Duration) { return 0, time.Hour },
			Faults:   sim.Faults{Errors: map[string]sim.ErrorFault{"GET /documento/{id}": {Rate: 1, Status: 500}}},
		},
		// The first poll after 50ms, the next scheduled one an hour later;
		// a failed poll is retried after 50ms (the schedule's first step).
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{50 * time.Millisecond, time.Hour}},
	}
	h := newTrackHarness(t, s)
	up := &timedDocuments{Client: h.Client}
	h.upstream = up
	tr := h.newTracker(nil)
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-dsu", pipetest.ValidFields("Mario")), nil)
	const calls = 5
	pipetest.WaitFor(t, 60*time.Second, fmt.Sprintf("%d downloads of the receipt", calls), func() bool { return len(up.times()) >= calls })
	r := h.Record("emp-dsu")
	u, err := h.Client.Richiesta(context.Background(), r.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	ready := u.TimestampStati.DatiDisponibili.Time()
	if u.StatoRichiesta != visengine.StateDataReady || ready.IsZero() {
		t.Fatalf("upstream: got %q since %v, want Dati disponibili", u.StatoRichiesta, ready)
	}
	ts := up.times()
	var gaps []string
	bad := false
	for i := 1; i < calls; i++ {
		gap, awaited := ts[i].Sub(ts[i-1]), ts[i-1].Sub(ready)
		gaps = append(gaps, fmt.Sprintf("%v after %v in Dati disponibili", gap.Round(time.Millisecond), awaited.Round(time.Millisecond)))
		if i >= 2 && gap < awaited/2 {
			bad = true
		}
	}
	if bad {
		t.Errorf("a receipt the upstream fails on was asked again sooner than half the time the request had been in Dati disponibili: %s",
			strings.Join(gaps, "; "))
	}
}
