package consumer_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/ratelimit"
	"github.com/iseed-dev/iseed/record"
)

// timingOutLimiter fails its first Wait as the deployment-wide limiter
// does when a KV operation on its bucket times out: ErrUnavailable,
// wrapping the KV call's context.DeadlineExceeded.
type timingOutLimiter struct{ failed atomic.Bool }

func (l *timingOutLimiter) Wait(ctx context.Context) error {
	if l.failed.CompareAndSwap(false, true) {
		return fmt.Errorf("ratelimit: %w: read upstream: %w", ratelimit.ErrUnavailable, context.DeadlineExceeded)
	}
	return ctx.Err()
}

// TestLimiterTimeoutIsNotAnUnansweredPost: the shared limiter's KV times
// out before the POST is sent. Nothing went upstream, so the submission
// must be sent without reconciling. Taken for an unanswered POST, it waited
// ISEED_RECONCILE_SETTLE (15 minutes by default) and, with a request of the
// same person made outside iseed meanwhile, was dead-lettered ambiguous
// without ever being sent.
func TestLimiterTimeoutIsNotAnUnansweredPost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fields := pipetest.ValidFields("Mario")
	requestOutsideIseed(t, h, fields)
	lim := &timingOutLimiter{}
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = lim }))
	h.Publish(pipetest.Submission("emp-lim", fields), nil)
	var r *record.Record
	pipetest.WaitFor(t, 20*time.Second, "the submission settled", func() bool {
		r = h.Record("emp-lim")
		return r != nil && (r.State == record.StateSubmitted || r.State == record.StateFailed)
	})
	if !lim.failed.Load() {
		t.Fatal("the limiter never failed")
	}
	if r.State != record.StateSubmitted || r.Attempts != 1 {
		t.Errorf("record: state %s (reason %q), attempts %d; want submitted after 1 attempt: nothing was sent before", r.State, r.Reason, r.Attempts)
	}
	if got := h.Counter("GET /richiesta"); got != 0 {
		t.Errorf("reconciliation reads: got %d, want 0: no POST was ever unanswered", got)
	}
}

// blockingLimiter holds every Wait until its context ends.
type blockingLimiter struct{ waiting atomic.Int32 }

func (l *blockingLimiter) Wait(ctx context.Context) error {
	l.waiting.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// TestShutdownWhileWaitingForATokenSendsNothing: a daemon stopped while a
// submission waits for an upstream token (its in-flight work cancelled past
// the shutdown timeout) sent nothing. The record must say so: no pending
// attempt, no attempt counted. Left as an unanswered POST, the next daemon
// waited for it to settle and, with a request of the same person made
// outside iseed meanwhile, dead-lettered it ambiguous without a POST.
func TestShutdownWhileWaitingForATokenSendsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fields := pipetest.ValidFields("Mario")
	lim := &blockingLimiter{}
	stop := h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = lim }),
		pipetest.WithConfig(func(c *consumer.Config) { c.ShutdownTimeout = 100 * time.Millisecond }))
	h.Publish(pipetest.Submission("emp-stop", fields), nil)
	pipetest.WaitFor(t, 10*time.Second, "the POST waiting for a token", func() bool { return lim.waiting.Load() > 0 })
	stop()
	r := h.Record("emp-stop")
	if r == nil {
		t.Fatal("no record after the stop")
	}
	if r.Pending != nil || r.Attempts != 0 {
		t.Fatalf("record after the stop: pending %+v, attempts %d; want no pending attempt and none counted: nothing was sent", r.Pending, r.Attempts)
	}
	requestOutsideIseed(t, h, fields)
	h.Start()
	var got *record.Record
	pipetest.WaitFor(t, 20*time.Second, "the submission settled", func() bool {
		got = h.Record("emp-stop")
		return got.State == record.StateSubmitted || got.State == record.StateFailed
	})
	if got.State != record.StateSubmitted || got.Attempts != 1 {
		t.Errorf("after a restart: state %s (reason %q), attempts %d; want submitted after 1 attempt", got.State, got.Reason, got.Attempts)
	}
}
