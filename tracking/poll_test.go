package tracking

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// flakyUpstream answers GET /richiesta/{id} with the request in its state,
// or fails (500) while failing is set.
type flakyUpstream struct {
	mu      sync.Mutex
	failing bool
}

func (u *flakyUpstream) fail(on bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failing = on
}

func (u *flakyUpstream) Richiesta(_ context.Context, id string) (*visengine.Richiesta, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failing {
		return nil, &visengine.Error{Op: "GET /richiesta/{id}", Status: 500, Class: visengine.ClassRetryable}
	}
	return &visengine.Richiesta{ID: id, StatoRichiesta: visengine.StateInProgress}, nil
}

func (u *flakyUpstream) Documento(context.Context, string, io.Writer) (*visengine.Document, error) {
	return nil, errors.New("no document in this test")
}

// TestFailingReadsBackOff: a read of the request that keeps failing is
// retried after as long as the reads have failed (from the retry delay,
// never past the next scheduled poll), not every retry delay until the
// maximum age; since when is in the record, so the backoff holds whichever
// worker or replica polls next, and a read that succeeds starts it again.
func TestFailingReadsBackOff(t *testing.T) {
	h := pipetest.New(t)
	ctx := context.Background()
	t0 := time.Now().Truncate(time.Second)
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	at := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = t0.Add(d) }
	const id = "emp-flaky"
	putInProgress(h, id, "r-flaky", t0)
	up := &flakyUpstream{}
	// The last look before a give-up (past MaxAge) is tried again at the
	// retry delay through its grace: a backoff would leave it one.
	const maxAge = 8*time.Hour + 10*time.Minute
	tr, err := New(Config{Now: clock, MaxAge: maxAge, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)},
		Deps{Resources: h.Res, Upstream: up, Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Track(ctx, h.Record(id)); err != nil {
		t.Fatal(err)
	}
	msg, meta, tk := fetchTask(t, h)

	const next, retry = 6 * time.Hour, time.Minute
	tests := []struct {
		name    string
		at      time.Duration
		failing bool
		want    time.Duration // the task's delay
		since   time.Duration // the record's PollsFailing, from t0; -1: none
	}{
		{"a first failure retries at the retry delay", 0, true, retry, 0},
		{"failing for 10 minutes: after 10 minutes", 10 * time.Minute, true, 10 * time.Minute, 0},
		{"failing for 3 hours: after 3 hours", 3 * time.Hour, true, 3 * time.Hour, 0},
		{"failing for 8 hours: at the next scheduled poll", 8 * time.Hour, true, next, 0},
		{"a read that succeeds ends it", 8*time.Hour + time.Minute, false, next, -1},
		{"the next failure is a first one", 8*time.Hour + 2*time.Minute, true, retry, 8*time.Hour + 2*time.Minute},
		{"and backs off from it", 8*time.Hour + 7*time.Minute, true, 5 * time.Minute, 8*time.Hour + 2*time.Minute},
		{"but not in the last look before a give-up", maxAge + 5*time.Minute, true, retry, 8*time.Hour + 2*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at(tt.at)
			up.fail(tt.failing)
			o := tr.poll(ctx, tk, meta, msg)
			if (o.Err != nil) != tt.failing {
				t.Fatalf("poll error %v, want one: %v", o.Err, tt.failing)
			}
			if got := decideTrack(o, next, retry, tr.cfg); got != (trackAction{Delay: tt.want}) {
				t.Errorf("got %+v, want a delay of %v", got, tt.want)
			}
			want := time.Time{}
			if tt.since >= 0 {
				want = t0.Add(tt.since)
			}
			if got := h.Record(id).PollsFailing; !got.Equal(want) {
				t.Errorf("record's polls_failing: got %v, want %v", got, want)
			}
		})
	}
}

// putInProgress stores the record of submission id, sent at t0 as request
// requestID, which the upstream says is in progress.
func putInProgress(h *pipetest.Harness, id, requestID string, t0 time.Time) {
	h.PutRecord(id, pipetest.ValidFields("Mario"), func(r *record.Record) {
		r.RequestID = requestID
		r.StatoRichiesta = visengine.StateInProgress
		r.To(record.StateSubmitted, t0, "")
		r.To(record.StateInProgress, t0, "")
	})
}

// fetchTask fetches the next tracking task, as the tracker's pool does:
// its message, metadata and decoded task.
func fetchTask(t *testing.T, h *pipetest.Harness) (jetstream.Msg, *jetstream.MsgMetadata, task) {
	t.Helper()
	batch, err := h.Res.Tracker.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	msg := <-batch.Messages()
	if msg == nil {
		t.Fatal("no tracking task fetched")
	}
	meta, err := msg.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	var tk task
	if err := json.Unmarshal(msg.Data(), &tk); err != nil {
		t.Fatal(err)
	}
	return msg, meta, tk
}
