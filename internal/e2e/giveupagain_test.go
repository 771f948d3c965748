package e2e_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
)

// movedOn reports the request In ricerca until moved, then as the
// upstream says (In erogazione: the simulator's requests stay there for
// an hour).
type movedOn struct {
	tracking.Upstream
	moved atomic.Bool
}

func (u *movedOn) Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error) {
	r, err := u.Upstream.Richiesta(ctx, id)
	if err == nil && !u.moved.Load() {
		r.StatoRichiesta, r.TimestampStati = visengine.StateSearching, visengine.TimestampStati{InRicerca: r.TimestampStati.InRicerca}
	}
	return r, err
}

// TestTrackGaveUpAgainAfterAReplayIsAnnounced: a replayed gave_up task
// reopens tracking in the same generation, whose poll announces the state
// the request moved on to; when tracking gives up again, its failed event
// must not be dropped as a duplicate of the first give-up's, or the
// submission's last status event says in_progress under a failed record.
func TestTrackGaveUpAgainAfterAReplayIsAnnounced(t *testing.T) {
	const id = "emp-again"
	up := &movedOn{}
	h, replayed := givenUpThrough(t, id, func(h *trackHarness) { up.Upstream, h.upstream = h.Client, up })
	up.moved.Store(true)
	if err := h.Queue().Replay(context.Background(), replayed); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitExplained(t, 10*time.Second, "tracking reopened and given up again", func() bool {
		r := h.Record(id)
		return r.State == record.StateFailed && len(r.Replays) == 1 && h.openTasks() == 0
	}, func() string { return fmt.Sprintf("record %+v, %d tasks open", h.Record(id), h.openTasks()) })
	var got []string
	for _, ev := range h.Events(id) {
		got = append(got, shortType(ev.Type)+" "+ev.ID)
	}
	first, again := publisher.StatusEventID(pipetest.Tenant, id, 1, publisher.StateFailed),
		publisher.GiveUpAfterReplayEventID(pipetest.Tenant, id, 1, replayed)
	want := []string{"submitted " + publisher.StatusEventID(pipetest.Tenant, id, 1, publisher.StateSubmitted),
		"failed " + first, "in_progress " + publisher.StatusEventID(pipetest.Tenant, id, 1, publisher.StateInProgress),
		"failed " + again}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events:\n got %v\nwant %v", got, want)
	}
}
