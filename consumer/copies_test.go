package consumer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestCopiesOfASubmissionInFlightStallNobody: a tenant publishes one
// submission, and while its worker waits for an upstream token (a backlog
// behind the budget), more copies of it than the submissions consumer's
// MaxAckPending, each under a message id of its own (or none). Each copy
// found the first delivery's live lease and was nakked to look again: a
// nakked message stays pending on the consumer, which delivers nothing more
// once MaxAckPending are, so another tenant's submission waited until the
// first one was sent, as long as the budget kept it. A copy of a
// submission another message's delivery is handling is now acknowledged
// at once, announcing nothing: that delivery carries the submission
// (redelivered if its worker dies).
func TestCopiesOfASubmissionInFlightStallNobody(t *testing.T) {
	t.Parallel()
	const id = "emp-copied"
	h, lim, reg, data := tokenHeld(t, id)
	copies := h.Res.Layout.MaxAckPend + 6
	for range copies {
		h.Publish(data, nil) // no message id: the stream keeps each
	}
	if took := h.othersSubmissionSent(); took > 5*time.Second {
		t.Errorf("globex's submission was sent %s after it was published, behind acme's copies; want at once", took.Round(time.Millisecond))
	}
	// Counted as each copy's delivery ends, on workers beside the one
	// that sent globex's: waited for, not read once.
	pipetest.WaitExplained(t, 10*time.Second, "every copy acknowledged as a duplicate", func() bool {
		return outcomes(t, reg, "duplicate") == float64(copies)
	}, func() string {
		return fmt.Sprintf("%v duplicate, %v busy", outcomes(t, reg, "duplicate"), outcomes(t, reg, "busy"))
	})
	if r := h.Record(id); r == nil || r.State != record.StateClaimed || r.Pending == nil {
		t.Fatalf("the first submission during its token wait: %+v, want claimed under its lease", r)
	}
	close(lim.release)
	got := h.WaitState(id, record.StateSubmitted)
	if h.Counter("POST /richiesta") != 2 || got.Attempts != 1 {
		t.Errorf("POSTs %d (globex's and acme's), attempts %d; want 2 and 1", h.Counter("POST /richiesta"), got.Attempts)
	}
	if types := h.EventTypes(id); len(types) != 1 || types[0] != "iseed.submission.submitted" {
		t.Errorf("events of the copied submission: %v, want one submitted", types)
	}
}

// TestCopyWaitsWhenTheHoldersMessageIsGone: a copy is left to the lease's
// holder only while the holder's message is in the stream, to be
// redelivered if its worker dies. Once that message is gone (deleted by
// an operator, aged out), the copy is the one that may have to carry the
// submission: it waits for the lease (busy) instead of being acknowledged.
func TestCopyWaitsWhenTheHoldersMessageIsGone(t *testing.T) {
	t.Parallel()
	const id = "emp-gone"
	h, lim, reg, data := tokenHeld(t, id)
	r := h.Record(id)
	if r == nil || r.Pending == nil || r.Pending.Seq == 0 {
		t.Fatalf("record during the wait: %+v, want a lease naming its message", r)
	}
	if err := h.Res.Submissions.DeleteMsg(context.Background(), r.Pending.Seq); err != nil {
		t.Fatal(err)
	}
	h.Publish(data, nil)
	pipetest.WaitFor(t, 10*time.Second, "the copy handled", func() bool {
		return outcomes(t, reg, "busy") > 0 || outcomes(t, reg, "duplicate") > 0
	})
	if n := outcomes(t, reg, "duplicate"); n != 0 {
		t.Errorf("the copy was acknowledged as a duplicate (%v) though the holder's message is gone; want busy", n)
	}
	close(lim.release)
	got := h.WaitState(id, record.StateSubmitted)
	if h.Counter("POST /richiesta") != 1 || got.Attempts != 1 {
		t.Errorf("POSTs %d, attempts %d; want 1 and 1", h.Counter("POST /richiesta"), got.Attempts)
	}
}
