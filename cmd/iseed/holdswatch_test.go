package main

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeSurvivesAHoldsWatchThatCannotStart: the first request to watch
// the holds bucket gets no answer (a JetStream leader election, a server
// restarting): serve must go on and watch again, not stop the daemon on a
// transient NATS error.
func TestServeSurvivesAHoldsWatchThatCannotStart(t *testing.T) {
	var watches atomic.Int64
	s := startServeThrough(t, func(subject string) bool {
		return strings.HasPrefix(subject, "$JS.API.CONSUMER.CREATE.KV_iseed_holds.") && watches.Add(1) == 1
	})
	done, stderr := s.done, s.stderr
	deadline := time.After(60 * time.Second)
	for watches.Load() < 2 {
		select {
		case err := <-done:
			t.Fatalf("serve stopped after the holds watch got no answer: exit %d (%v); want it running, watching again\n%s",
				exitCode(err), err, stderr.String())
		case <-deadline:
			t.Fatalf("no second try to watch the holds bucket 60 s after the first (%d tries)\n%s", watches.Load(), stderr.String())
		case <-time.After(25 * time.Millisecond):
		}
	}
	s.stop(t)
}
