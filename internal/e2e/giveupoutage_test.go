package e2e_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// refusedLetters is a JetStream handle whose publishes on subject fail
// until open is set: a dead-letter stream that refuses dead letters for a
// while (an outage).
type refusedLetters struct {
	jetstream.JetStream
	subject string
	open    atomic.Bool
	refused atomic.Int32
}

func (j *refusedLetters) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if m.Subject == j.subject && !j.open.Load() {
		j.refused.Add(1)
		return nil, errors.New("the dead-letter stream is unavailable")
	}
	return j.JetStream.PublishMsg(ctx, m, opts...)
}

// A gave_up dead letter the dead-letter stream refused for a while, stored
// once its task comes back, is not stored after its record's last write:
// the record is written again once the letter is. The record scrub counts
// from that write (ISEED_RECORD_SCRUB_AFTER, at least the letters' 90 days
// and a day), so the letter expires before the record is scrubbed, however
// long the outage. Before, the record kept its give-up's write, and an
// outage longer than a day let the letter outlive the record's scrub: its
// replay would reopen the tracking of a scrubbed record.
func TestAGaveUpLetterStoredLateIsNotOutlivedByItsRecordsScrub(t *testing.T) {
	letters := &refusedLetters{}
	g := newGiveUpRaceWith(t, nil, raceDeps{js: func(js jetstream.JetStream) jetstream.JetStream {
		letters.JetStream = js
		return letters
	}})
	letters.subject = g.Res.Layout.DLQSubject(pipetest.Tenant, raceID)
	g.runTracker(g.tr)
	g.waitGaveUp(false)
	pipetest.WaitFor(t, 10*time.Second, "the letter to be refused again when its task comes back", func() bool {
		return letters.refused.Load() >= 2
	})
	letters.open.Store(true)
	pipetest.WaitFor(t, 10*time.Second, "the give-up's task to be acknowledged", func() bool { return g.openTasks() == 0 })
	var stored time.Time
	for _, dl := range g.DeadLetters() {
		if dl.SubmissionID == raceID {
			stored = dl.Stored
		}
	}
	if got := g.lettersOf(raceID); !slices.Equal(got, []string{"gave_up 1"}) {
		t.Fatalf("dead letters: got %v, want [gave_up 1]", got)
	}
	e, err := g.Res.Records.Get(context.Background(), record.Key(pipetest.Tenant, raceID))
	if err != nil {
		t.Fatal(err)
	}
	if e.Created().Before(stored) {
		t.Errorf("the record's last write: got %s, %s before its gave_up letter was stored (%s); want at or after it",
			e.Created().UTC().Format(time.RFC3339Nano), stored.Sub(e.Created()), stored.UTC().Format(time.RFC3339Nano))
	}
}
