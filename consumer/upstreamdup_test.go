package consumer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// dedupUpstream is the simulator's client as an upstream that deduplicates
// requests would be: the first POST creates a request, every later one
// creates nothing and answers with that first request.
type dedupUpstream struct {
	*visengine.Client
	mu    sync.Mutex
	first *visengine.Richiesta
	posts int
}

func (u *dedupUpstream) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.posts++
	if u.first != nil {
		r := *u.first
		return &r, nil
	}
	r, err := u.Client.CreateRichiesta(ctx, req)
	if err == nil {
		u.first = r
	}
	return r, err
}

func (u *dedupUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.posts
}

// TestUpstreamAnswerOfAnothersRequestEnds: a POST answered with a request
// the request index gives to another submission (an upstream that took
// the second submission for a duplicate of the first) created nothing of
// this submission's. It ends failed, dead-lettered with the reason, after
// that one POST; it was handed back instead, reconciled (the request is
// not its own), and POSTed again, for the same answer, until the maximum
// deliveries or age: a loop of paid calls.
func TestUpstreamAnswerOfAnothersRequestEnds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	up := &dedupUpstream{Client: h.Client}
	h.Start(pipetest.WithUpstream(up))
	h.Publish(pipetest.Submission("dup-a", pipetest.ValidFields("Mario")), nil)
	a := h.WaitState("dup-a", record.StateSubmitted)
	h.Publish(pipetest.Submission("dup-b", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 30*time.Second, "dup-b failed, or POSTed more than once", func() bool {
		r := h.Record("dup-b")
		return (r != nil && r.State == record.StateFailed) || up.count() > 2
	})
	b := h.Record("dup-b")
	if b.State != record.StateFailed || b.Reason != dlq.ReasonUpstreamDuplicate {
		t.Fatalf("dup-b: %s (%s), %d POSTs in all; want failed (%s) after its one POST", b.State, b.Reason, up.count(), dlq.ReasonUpstreamDuplicate)
	}
	if b.RequestID != "" || b.Pending != nil || b.Charge != nil {
		t.Errorf("dup-b keeps request %q, pending %+v, charge %+v; want none: its POST created nothing", b.RequestID, b.Pending, b.Charge)
	}
	if got := h.Record("dup-a"); got.RequestID != a.RequestID || got.State != record.StateSubmitted && got.State != record.StateInProgress {
		t.Errorf("dup-a: %s with request %q; want it untouched with %q", got.State, got.RequestID, a.RequestID)
	}
	// The failed event is stored after the dead letter, and both after the
	// record waited for (consumer/handle.go, finish).
	h.WaitLastEvent("dup-b", publisher.StatusType(publisher.StateFailed))
	dls := h.DeadLetters()
	if len(dls) != 1 || dls[0].Reason != dlq.ReasonUpstreamDuplicate {
		t.Fatalf("dead letters: %+v; want dup-b's, %s", dls, dlq.ReasonUpstreamDuplicate)
	}
	if n := up.count(); n != 2 {
		t.Errorf("POSTs: %d; want 2, one a submission", n)
	}
}
