package ratelimit

import (
	"testing"
	"time"
)

// clockSim drives a serverClock against a simulated server: the local
// clock reads the server's time plus skew, without a monotonic reading, so
// that jumps of skew show.
type clockSim struct {
	t      *testing.T
	server int64 // server time, Unix ns
	skew   time.Duration
	c      serverClock
	rev    uint64
	stamp  int64 // of the latest revision
}

func newClockSim(t *testing.T, skew time.Duration) *clockSim {
	s := &clockSim{t: t, server: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC).UnixNano(), skew: skew}
	s.c = newServerClock(func() time.Time { return time.Unix(0, s.server).Add(s.skew) })
	s.write() // another replica's
	s.c.ownRev = 0
	return s
}

func (s *clockSim) pass(d time.Duration) { s.server += int64(d) }

// read reads the latest revision with 1ms each way and returns how far the
// estimate at arrival runs ahead of the server (negative: behind).
func (s *clockSim) read() (ahead time.Duration, reset bool) {
	s.pass(time.Millisecond)
	stamp, rev := s.stamp, s.rev
	s.pass(time.Millisecond)
	at := s.c.local()
	reset = s.c.observe(stamp, rev, at)
	return time.Duration(s.c.estimate(at) - s.server), reset
}

// write writes a revision, stamped on its way, and records it as ours.
func (s *clockSim) write() {
	at := s.c.local()
	s.pass(time.Millisecond)
	s.rev++
	s.stamp = s.server
	s.c.wrote(s.rev, at)
	s.pass(time.Millisecond)
}

func TestServerClockNeverRunsAhead(t *testing.T) {
	for _, skew := range []time.Duration{0, time.Hour, -time.Hour, 3 * time.Second, -7 * time.Millisecond} {
		s := newClockSim(t, skew)
		s.pass(10 * time.Minute) // an idle bucket
		ahead, _ := s.read()
		if ahead > 0 {
			t.Errorf("skew %v, first read: estimate %v ahead of the server, want at most 0", skew, ahead)
		}
		for i := range 50 {
			s.write()
			s.pass(time.Duration(i) * 7 * time.Millisecond)
			ahead, reset := s.read()
			if ahead > 0 || reset {
				t.Fatalf("skew %v, read %d: estimate %v ahead, reset %v; want at most 0 and no reset", skew, i, ahead, reset)
			}
			// A read of a fresh own write pins the estimate within the
			// round trip (4ms here) of the server's clock.
			if ahead < -4*time.Millisecond-time.Duration(i)*7*time.Millisecond {
				t.Fatalf("skew %v, read %d: estimate %v behind, want within the round trip and the wait", skew, i, -ahead)
			}
		}
	}
}

func TestServerClockLocalJumps(t *testing.T) {
	tests := []struct {
		name string
		jump time.Duration
		// wantAhead is whether the first read after the jump overestimates,
		// which lets at most that one round's write credit too much.
		wantAhead bool
	}{
		{"forward an hour", time.Hour, true},
		{"forward a second", time.Second, true},
		{"back an hour", -time.Hour, false},
	}
	for _, tt := range tests {
		s := newClockSim(t, 0)
		s.read()
		s.write()
		s.read()
		s.skew += tt.jump
		ahead, _ := s.read()
		if got := ahead > 0; got != tt.wantAhead {
			t.Errorf("%s: first read after the jump %v ahead, overestimate %v, want %v", tt.name, ahead, got, tt.wantAhead)
		}
		s.write() // the one write that may credit too much
		ahead, reset := s.read()
		if ahead > 0 {
			t.Errorf("%s: second read after the jump: estimate %v ahead, want the estimate restarted", tt.name, ahead)
		}
		if reset != tt.wantAhead {
			t.Errorf("%s: reset %v, want %v", tt.name, reset, tt.wantAhead)
		}
		if ahead < -4*time.Millisecond {
			t.Errorf("%s: estimate %v behind after a fresh own write, want within the round trip", tt.name, -ahead)
		}
	}
}
