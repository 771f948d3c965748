package overview_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
)

// TestOldestWaitingSubmission: the snapshot says how long ago the oldest
// submission message not yet acknowledged was published (the gauge
// iseed_submissions_oldest_waiting_seconds), skipping one erased from the
// stream, and 0 once every one is handled.
func TestOldestWaitingSubmission(t *testing.T) {
	h := pipetest.New(t)
	o := newOverview(t, h, overview.Deps{})
	waiting := func(s *overview.Snapshot) (time.Duration, bool) {
		if s.Submissions == nil || s.Submissions.OldestWaiting == nil {
			return 0, false
		}
		return time.Duration(*s.Submissions.OldestWaiting * float64(time.Second)), true
	}

	first := time.Now()
	m := nats.NewMsg(h.Res.Layout.SubmissionSubject(pipetest.Tenant))
	m.Data = pipetest.Submission("emp-a", pipetest.ValidFields("Mario"))
	ackA, err := h.NATS.JS.PublishMsg(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	// emp-a was stored between first and stored: its age is at least the
	// time since stored, at most the time since first.
	stored := time.Now()
	pipetest.WaitFor(t, 10*time.Second, "a while", func() bool { return time.Since(stored) >= 500*time.Millisecond })
	second := time.Now()
	h.Publish(pipetest.Submission("emp-b", pipetest.ValidFields("Maria")), nil)
	s := waitSnapshot(t, o, "both waiting", func(s *overview.Snapshot) bool { return s.Submissions != nil && s.Submissions.Backlog == 2 })
	if got, ok := waiting(s); !ok || got < 500*time.Millisecond || got > time.Since(first) {
		t.Errorf("oldest waiting: %s (%v); want emp-a's age, at least 500ms and at most %s", got, ok, time.Since(first))
	}
	if got := s.Submissions.OldestWaitingTenant; got != pipetest.Tenant {
		t.Errorf("oldest waiting submission's tenant: %q, want %q", got, pipetest.Tenant)
	}
	if err := h.Res.Submissions.DeleteMsg(context.Background(), ackA.Sequence); err != nil { // erased (iseed erase)
		t.Fatal(err)
	}
	s = waitSnapshot(t, o, "emp-a's message gone", func(s *overview.Snapshot) bool { return s.Submissions != nil && s.Submissions.Backlog == 1 })
	if got, ok := waiting(s); !ok || got <= 0 || got > time.Since(second) {
		t.Errorf("oldest waiting after emp-a's message was erased: %s (%v); want emp-b's age, at most %s", got, ok, time.Since(second))
	}
	h.Start()
	h.WaitState("emp-b", record.StateSubmitted)
	waitSnapshot(t, o, "nothing waiting", func(s *overview.Snapshot) bool {
		got, ok := waiting(s)
		return ok && got == 0 && s.Submissions.InFlight == 0
	})
}
