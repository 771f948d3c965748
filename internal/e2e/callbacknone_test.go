package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestUnpromisedRequestsKeepCallbacksTrusted: the tracker runs with
// callbacks on, but the requests it tracks were posted without
// callback_data (as before ISEED_PUBLIC_URL was set: callbacks turned on
// while requests are open). No callback can announce them, so polls that
// find them moved on, three of them over more than an hour, are no sign
// that callbacks are lost: callbacks stay trusted and nothing is logged.
// Their polls are not stretched, trusted or not: no callback will come.
// TestLostCallbacksStopStretchingPolls is the same with every POST
// carrying callback_data.
func TestUnpromisedRequestsKeepCallbacksTrusted(t *testing.T) {
	h, logs, reg, between := newTrustTracker(t)
	h.startPipeline(h.current, false) // h.callbacks is nil: no POST carries callback_data
	// Callbacks are on from now on; the requests about to be posted were
	// promised none.
	h.callbacks = nowhere(t, h)

	ids := []string{"emp-none-1", "emp-none-2", "emp-none-3"}
	for _, id := range ids {
		h.Publish(pipetest.Submission(id, pipetest.ValidFields("Mario")), nil)
	}
	for _, id := range ids {
		if r := h.waitClosed(id, 10*time.Second); !r.Unpromised() {
			t.Errorf("%s: the record does not say its POST carried no callback_data, want it to (the pipeline has no callbacks)", id)
		}
	}
	pipetest.WaitFor(t, 5*time.Second, "the tracking tasks to be acknowledged", func() bool { return h.openTasks() == 0 })
	if got := gauge(t, reg, "iseed_callbacks_trusted"); got != 1 {
		t.Errorf("iseed_callbacks_trusted after polls found news of requests promised no callback: got %v, want 1", got)
	}
	if n := strings.Count(logs.String(), "callbacks look lost"); n != 0 {
		t.Errorf("warnings that callbacks look lost: got %d, want 0", n)
	}
	h.Publish(pipetest.Submission("emp-none-4", pipetest.ValidFields("Mario")), nil)
	// Trusted, but not for this request: no callback will announce it.
	if d := firstPollDelay(t, logs, "emp-none-4"); d >= between {
		t.Errorf("a request promised no callback, callbacks trusted: first poll in %v, want unstretched, under %v", d, between)
	}
}
