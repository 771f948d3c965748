package consumer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
)

func TestNATSRestartLosesNothing(t *testing.T) {
	h := newHarness(t)
	h.start()
	const n = 60
	for i := range n {
		h.publish(submission(fmt.Sprintf("nr-%d", i), validFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	waitFor(t, 20*time.Second, "some submissions sent", func() bool { return h.counter("created") >= 5 })
	h.nats.Stop()
	waitFor(t, 5*time.Second, "the client to notice", func() bool { return !h.nats.NC.IsConnected() })
	h.nats.Start()
	waitFor(t, 10*time.Second, "the client to reconnect", func() bool { return h.nats.NC.IsConnected() })
	for i := range n {
		h.waitState(fmt.Sprintf("nr-%d", i), consumer.StateSubmitted)
	}
	if got := h.counter("created"); got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
	if dls := h.deadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: got %+v, want none", dls)
	}
}
