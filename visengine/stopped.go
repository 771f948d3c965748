package visengine

import (
	"context"
	"errors"
	"sync"
	"time"
)

// What WithRunningTimeout makes of a timer that fires late.
const (
	// stoppedSlack is how late a timer fires when its process was not
	// running at its time: stopped (SIGSTOP, a debugger), or its machine
	// paused (a VM migrated or snapshotted).
	stoppedSlack = 250 * time.Millisecond
	// stoppedGrace is the running time a call is given after such a stop.
	stoppedGrace = time.Second
	// stoppedRearms bounds the graces of one call: a process starved of
	// CPU fires its timers late too, and must not run a call for ever.
	stoppedRearms = 5
)

// WithRunningTimeout is context.WithTimeout(parent, d), but for a process
// stopped past d: when the timer fires more than stoppedSlack late, the
// process did not run at its time, and an answer that came meanwhile may
// wait in its socket, unread. The context then ends stoppedGrace later
// (at most stoppedRearms times), so that the call reads it, instead of
// ending as soon as the process runs again, before it has read anything.
// For a POST that creates a paid request, that is the difference between
// knowing the request's id and leaving the submission in doubt. Its Err
// is context.DeadlineExceeded when d ran out, as WithTimeout's; its
// Deadline is the parent's.
func WithRunningTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	var mu sync.Mutex // holds t, due, rearms and stopped for the timer's function
	mu.Lock()
	defer mu.Unlock()
	due, rearms, stopped := time.Now().Add(d), 0, false
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if now := time.Now(); now.Sub(due) > stoppedSlack && rearms < stoppedRearms {
			due, rearms = now.Add(stoppedGrace), rearms+1
			t.Reset(stoppedGrace)
			return
		}
		cancel(context.DeadlineExceeded)
	})
	return runningTimeoutCtx{ctx}, func() {
		mu.Lock()
		stopped = true // a timer re-armed meanwhile does nothing
		t.Stop()
		mu.Unlock()
		cancel(context.Canceled)
	}
}

// runningTimeoutCtx is WithRunningTimeout's context: a cancelled one whose
// Err says that its time ran out when it did.
type runningTimeoutCtx struct{ context.Context }

func (c runningTimeoutCtx) Err() error {
	err := c.Context.Err()
	if errors.Is(err, context.Canceled) && context.Cause(c.Context) == context.DeadlineExceeded {
		return context.DeadlineExceeded
	}
	return err
}
