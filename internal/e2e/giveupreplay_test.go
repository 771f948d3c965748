package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// Replaying the gave_up dead letter of a give-up that a completion
// overrode reopens nothing: no poll, no event, the record as it is, and
// the tracker says why. (The override withdraws the letter; here its
// withdrawal failed, and the upstream has not retried the callback yet.)
func TestReplayOfAnOverriddenGiveUpReopensNothing(t *testing.T) {
	g, up := downloadingWith(t, raceDeps{dlq: func(s jetstream.Stream) jetstream.Stream { return &failingRemoval{Stream: s} }})
	g.runTracker(g.tr)
	g.waitGaveUp(true)
	up.open()
	if code := <-g.answered; code != http.StatusServiceUnavailable {
		t.Fatalf("callback whose withdrawal of the letter failed: got %d, want 503", code)
	}
	g.checkOverridden()
	var seq uint64
	for _, dl := range g.DeadLetters() {
		if dl.Reason == dlq.ReasonGaveUp && dl.SubmissionID == raceID {
			seq = dl.Seq
		}
	}
	if seq == 0 {
		t.Fatalf("dead letters: got %+v, want emp-race's gave_up", g.DeadLetters())
	}
	_, rev, err := record.NewStore(g.Res.Records).Get(context.Background(), pipetest.Tenant, raceID)
	if err != nil {
		t.Fatal(err)
	}
	events, gets := len(g.Events(raceID)), g.Counter("GET /richiesta/{id}")
	if err := g.Queue().Replay(context.Background(), seq); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 5*time.Second, "the tracker to say the replay reopens nothing", func() bool {
		return strings.Contains(g.logs.String(), "replayed tracking task reopens nothing: the submission is completed")
	})
	pipetest.WaitFor(t, 5*time.Second, "the replayed task to be acknowledged", func() bool { return g.openTasks() == 0 })
	if _, now, _ := record.NewStore(g.Res.Records).Get(context.Background(), pipetest.Tenant, raceID); now != rev {
		t.Errorf("record revision: got %d, want %d (unchanged)", now, rev)
	}
	if got := len(g.Events(raceID)); got != events {
		t.Errorf("events: got %d, want %d (none more)", got, events)
	}
	if got := g.Counter("GET /richiesta/{id}"); got != gets {
		t.Errorf("upstream reads: got %d, want %d (none more)", got, gets)
	}
}
