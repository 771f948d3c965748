package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// wordyRequests is the simulator's client, its answers' motivo_annullamento
// and esito info as long as the client keeps a value (just under
// visengine.DefaultMaxValueBytes).
type wordyRequests struct{ *visengine.Client }

func (c wordyRequests) Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error) {
	r, err := c.Client.Richiesta(ctx, id)
	if r != nil {
		long := strings.Repeat("motivo ", (visengine.DefaultMaxValueBytes-64)/7)
		if r.MotivoAnnullamento != "" {
			r.MotivoAnnullamento = visengine.String(long)
		}
		if r.Esito != nil {
			r.Esito.Info = long
		}
	}
	return r, err
}

// TestLongUpstreamTextsDoNotStopTracking: motivo_annullamento and esito's
// info are the upstream's free text, each kept up to the client's value
// limit (1 MiB). The cancelled or completed event that carries them must
// still go out and tracking end: an event over the server's maximum
// payload failed every catch-up, at the retry delay, until tracking gave
// up on a request the upstream had ended.
func TestLongUpstreamTextsDoNotStopTracking(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cancel float64
		want   string
	}{{"cancelled", 1, record.StateCancelled}, {"completed", 0, record.StateCompleted}} {
		t.Run(tt.name, func(t *testing.T) {
			s := fastTracking(50 * time.Millisecond)
			s.sim = sim.Config{Step: 50 * time.Millisecond, CancelRate: tt.cancel}
			h := newTrackHarness(t, s)
			h.upstream = wordyRequests{h.Client}
			tr := h.newTracker(nil)
			h.runTracker(tr)
			h.startPipeline(tr, false)
			h.Publish(pipetest.Submission("emp-wordy", pipetest.ValidFields("Mario")), nil)
			r := h.waitClosed("emp-wordy", 20*time.Second)
			if r.State != tt.want {
				t.Fatalf("got %s, want %s", r.State, tt.want)
			}
			pipetest.WaitFor(t, 10*time.Second, "the "+tt.want+" event", func() bool {
				return h.typeCounts("emp-wordy")["iseed.submission."+tt.want] == 1
			})
		})
	}
}

// TestLongUnknownStateIsKeptShort: a stato_richiesta iseed does not know
// is kept as the record's upstream state, cut: in full (the client keeps
// up to 1 MiB) the record could not be written, and every poll failed.
func TestLongUnknownStateIsKeptShort(t *testing.T) {
	h := newTrackHarness(t, trackSetup{})
	tr := h.bareTracker(oddStateUpstream{strings.Repeat("Sospesa ", (visengine.DefaultMaxValueBytes-64)/8)})
	h.putTracked("emp-odd", "req-odd", record.StateSubmitted, "")
	ctx := context.Background()
	if err := tr.Track(ctx, h.Record("emp-odd")); err != nil {
		t.Fatal(err)
	}
	if err := tr.Refresh(ctx, pipetest.Tenant, "emp-odd"); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if r := h.Record("emp-odd"); !strings.HasPrefix(r.StatoRichiesta, "Sospesa ") || len(r.StatoRichiesta) > 1<<10 {
		t.Errorf("record: stato_richiesta of %d bytes, want the state's start, cut", len(r.StatoRichiesta))
	}
}
