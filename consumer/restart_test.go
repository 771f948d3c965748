package consumer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

func TestNATSRestartLosesNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	const n = 60
	for i := range n {
		h.Publish(pipetest.Submission(fmt.Sprintf("nr-%d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	pipetest.WaitFor(t, 20*time.Second, "some submissions sent", func() bool { return h.Counter("created") >= 5 })
	h.NATS.Stop()
	pipetest.WaitFor(t, 5*time.Second, "the client to notice", func() bool { return !h.NATS.NC.IsConnected() })
	h.NATS.Start()
	pipetest.WaitFor(t, 10*time.Second, "the client to reconnect", func() bool { return h.NATS.NC.IsConnected() })
	for i := range n {
		h.WaitState(fmt.Sprintf("nr-%d", i), record.StateSubmitted)
	}
	if got := h.Counter("created"); got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: got %+v, want none", dls)
	}
}
