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
	"github.com/iseed-dev/iseed/visengine/sim"
)

// shutdownTimeout is the pipelines' ISEED_SHUTDOWN_TIMEOUT in these tests:
// long, so that a stop that waits it out shows.
const shutdownTimeout = 30 * time.Second

// stopsAtOnce stops the pipeline and fails the test unless it has stopped
// well within shutdownTimeout.
func stopsAtOnce(t *testing.T, stop func(), doing string) {
	t.Helper()
	stopped := make(chan struct{})
	start := time.Now()
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("the pipeline stopped %s after its shutdown began, %s; want at once", took.Round(time.Millisecond), doing)
		}
	case <-time.After(shutdownTimeout - 5*time.Second):
		t.Fatalf("the pipeline still running %s after its shutdown began, %s (the timeout is %s)", shutdownTimeout-5*time.Second, doing, shutdownTimeout)
	}
}

// TestShutdownHandsBackASubmissionWaitingForItsToken: a submission whose
// worker waits for a token of the upstream budget has sent nothing and only
// waits. The pipeline stops at once instead of waiting out the shutdown
// timeout (30 s) with it, releases its claim, and hands the message back:
// the next daemon sends it, once.
func TestShutdownHandsBackASubmissionWaitingForItsToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	lim := &blockingLimiter{}
	stop := h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = lim }),
		pipetest.WithConfig(func(c *consumer.Config) { c.ShutdownTimeout = shutdownTimeout }))
	h.Publish(pipetest.Submission("emp-token-stop", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the POST waiting for a token", func() bool { return lim.waiting.Load() > 0 })
	stopsAtOnce(t, stop, "a submission waiting for its token")
	r := h.Record("emp-token-stop")
	if r == nil || r.Pending != nil || r.Attempts != 0 || h.Counter("POST /richiesta") != 0 {
		t.Fatalf("after the stop: record %+v, POSTs %d; want no pending attempt, none counted, none sent", r, h.Counter("POST /richiesta"))
	}
	h.Start()
	got := h.WaitState("emp-token-stop", record.StateSubmitted)
	if got.Attempts != 1 || h.Counter("created") != 1 {
		t.Errorf("after a restart: attempts %d, upstream requests %d; want 1 and 1", got.Attempts, h.Counter("created"))
	}
}

// TestShutdownHandsBackASubmissionPausingBetweenTries: a POST throttled
// with a Retry-After of two minutes created nothing, and its worker pauses
// before the next try. The pipeline stops at once, not after the pause or
// the shutdown timeout, and the next daemon sends the submission: one
// request.
func TestShutdownHandsBackASubmissionPausingBetweenTries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{Throttle: map[string]sim.ThrottleFault{"POST /richiesta": {Next: 1, RetryAfter: 120}}})
	long := func(c *consumer.Config) {
		c.ShutdownTimeout = shutdownTimeout
		c.InProcessBudget, c.Retry.MaxDelay = 10*time.Minute, 10*time.Minute // the pause is taken in process
	}
	stop := h.Start(pipetest.WithConfig(long))
	h.Publish(pipetest.Submission("emp-pause-stop", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the throttled POST", func() bool { return h.Counter("POST /richiesta") == 1 })
	stopsAtOnce(t, stop, "a submission pausing two minutes between tries")
	if r := h.Record("emp-pause-stop"); r == nil || r.Pending != nil || r.State == record.StateSubmitted {
		t.Fatalf("after the stop: record %+v; want unsubmitted, no pending attempt (the throttled POST created nothing)", r)
	}
	h.Start()
	h.WaitState("emp-pause-stop", record.StateSubmitted)
	if posts, created := h.Counter("POST /richiesta"), h.Counter("created"); posts != 2 || created != 1 {
		t.Errorf("POSTs %d, upstream requests %d; want 2 (one throttled) and 1", posts, created)
	}
}

// lostAnswers answers every POST as unanswered (no response: it may have
// been written) without sending it, so that reconciliation finds nothing
// and waits for the attempt to settle.
type lostAnswers struct {
	*visengine.Client
	posts atomic.Int32
}

func (u *lostAnswers) CreateRichiesta(context.Context, visengine.CreateRequest) (*visengine.Richiesta, error) {
	u.posts.Add(1)
	return nil, &visengine.Error{Op: "POST /richiesta", Message: "no answer", Class: visengine.ClassAmbiguous}
}

// TestShutdownKeepsTheAttemptOfASettlingPOST: after an unanswered POST the
// worker reads the upstream and waits for the attempt to settle
// (ISEED_RECONCILE_SETTLE) before it may send again. Stopped meanwhile, the
// pipeline returns at once, and the record keeps the attempt with its
// settle time, so that the next delivery reconciles it instead of sending
// a second POST.
func TestShutdownKeepsTheAttemptOfASettlingPOST(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	up := &lostAnswers{Client: h.Client}
	stop := h.Start(pipetest.WithUpstream(up), pipetest.WithConfig(func(c *consumer.Config) {
		c.ShutdownTimeout = shutdownTimeout
		c.ReconcileSettle, c.InProcessBudget = 10*time.Minute, 10*time.Minute
	}))
	h.Publish(pipetest.Submission("emp-settle-stop", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the upstream read after the unanswered POST", func() bool {
		return up.posts.Load() == 1 && h.Counter("GET /richiesta") > 0
	})
	stopsAtOnce(t, stop, "a submission waiting for its unanswered POST to settle")
	r := h.Record("emp-settle-stop")
	if r == nil || r.Pending == nil || r.Pending.Settle.IsZero() || r.Pending.Unsent {
		t.Fatalf("after the stop: record %+v; want the unanswered POST's attempt kept, with its settle time", r)
	}
	if time.Until(r.Pending.Settle) < 5*time.Minute {
		t.Errorf("the attempt settles at %s, in %s; want about ISEED_RECONCILE_SETTLE (10m) after the POST", r.Pending.Settle, time.Until(r.Pending.Settle).Round(time.Second))
	}
	if got := up.posts.Load(); got != 1 {
		t.Errorf("POSTs: %d, want 1", got)
	}
}
