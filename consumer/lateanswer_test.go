package consumer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// lateAnswer is the simulator's client whose first POST's answer comes
// hold after the request was created, as a process frozen in the middle of
// the POST (a paused VM, a SIGSTOP) finds it when it wakes; while the
// caller waits, it waits too, and a caller that stops waiting first gets
// what the client says of a POST cut after it was written.
type lateAnswer struct {
	*visengine.Client
	hold    time.Duration
	calls   atomic.Int32
	created chan string
}

func (u *lateAnswer) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	r, err := u.Client.CreateRichiesta(ctx, req)
	if err != nil || u.calls.Add(1) != 1 {
		return r, err
	}
	u.created <- r.ID
	select {
	case <-time.After(u.hold):
		return r, nil
	case <-ctx.Done():
		return nil, &visengine.Error{Op: "POST /richiesta", Class: visengine.ClassAmbiguous, Message: "request sent, no answer", Err: ctx.Err()}
	}
}

// TestLateAnswerIsAdopted: a POST answered after its lease (the job
// stops waiting for it at the lease's end, less a second) leaves the
// submission unsure; with no callback marker to prove the request it
// created, reconciliation could only fail it as ambiguous, left to a
// person. The answer, read all the same, indexes the request for it, and
// the next delivery adopts it: submitted, one POST, no dead letter.
func TestLateAnswerIsAdopted(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// The POST's wait is the lease (ISEED_ACK_WAIT, 3 s here) less a
	// second; the answer comes half a second after that.
	up := &lateAnswer{Client: h.Client, hold: h.Res.Layout.AckWait - time.Second/2, created: make(chan string, 1)}
	h.Start(pipetest.WithUpstream(up), pipetest.WithConfig(func(c *consumer.Config) {
		c.Callback = nil
		c.AdoptGrace = 10 * time.Second // the answer is read until half of it: 5 s after the POST began
	}))
	h.Publish(pipetest.Submission("emp-late", pipetest.ValidFields("Mario")), nil)
	created := <-up.created
	pipetest.WaitFor(t, 20*time.Second, "emp-late submitted or failed", func() bool {
		r := h.Record("emp-late")
		return r != nil && (r.State == record.StateSubmitted || r.State == record.StateFailed)
	})
	r := h.Record("emp-late")
	if r.State != record.StateSubmitted || r.RequestID != created {
		t.Fatalf("record %s (%s), request %q; want submitted with the request its POST created, %s", r.State, r.Reason, r.RequestID, created)
	}
	if n := h.Counter("POST /richiesta"); n != 1 {
		t.Errorf("POST /richiesta: %d, want 1", n)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: %+v, want none", dls)
	}
}
