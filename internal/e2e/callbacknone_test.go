package e2e_test

import (
	"context"
	"encoding/json"
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
	h, logs, reg, _ := newTrustTracker(t)
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
	// Trusted, but not for such a request: no callback will announce it.
	// Its tracking task says so, for the first poll's schedule (which
	// TestNextPollStretchesOnlyForAPromisedCallback checks: here the
	// delay also depends on the hour the accelerated clock has reached).
	h.Publish(pipetest.Submission("emp-none-4", pipetest.ValidFields("Mario")), nil)
	firstPollDelay(t, logs, "emp-none-4")
	m, err := h.Res.Track.GetLastMsgForSubject(context.Background(), h.Res.Layout.TrackSubject(pipetest.Tenant, "emp-none-4"))
	if err != nil {
		t.Fatal(err)
	}
	var task struct {
		Callback *bool `json:"callback"`
	}
	if err := json.Unmarshal(m.Data, &task); err != nil || task.Callback == nil || *task.Callback {
		t.Errorf("the tracking task of a request promised no callback: %s (%v), want it to say callback false", m.Data, err)
	}
}
