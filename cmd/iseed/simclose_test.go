package main

import (
	"net"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/rs/zerolog"
)

// TestSimCloseDoesNotWaitForAFreshConnection: a connection to the built-in
// simulator that has sent no request yet (the daemon's HTTP client dials
// one now and then that it then does not need) does not hold the daemon's
// stop: net/http's Shutdown would wait until it is 5 s old, and Ctrl-C on
// the demo took 3.3 s so in about one stop of ten.
func TestSimCloseDoesNotWaitForAFreshConnection(t *testing.T) {
	t.Parallel()
	s, err := startSim(sim.Config{Step: time.Hour}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", s.base.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitUntil(t, 10*time.Second, "the connection accepted", func() bool {
		s.fresh.mu.Lock()
		defer s.fresh.mu.Unlock()
		return len(s.fresh.m) == 1
	})
	start := time.Now()
	s.close()
	// Well under the 5 s of net/http's rule, and far over what close takes.
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Errorf("close took %s with a connection that sent no request; want it closed at once", took)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Errorf("the fresh connection still open after close: read %d, %v", n, err)
	}
}
