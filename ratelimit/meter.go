package ratelimit

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// meterWindow is the span Meter.PerSecond averages over: long enough to
// smooth bursts, short enough to show a change within a minute.
const meterWindow = 60

// Meter counts the upstream calls of one process, as the Waits its
// limiters grant, and reports their rate over the last minute. It is safe
// for concurrent use.
type Meter struct {
	now  func() time.Time
	mu   sync.Mutex
	secs [meterWindow]int64 // the unix second each slot counts
	n    [meterWindow]int64
}

// NewMeter returns a Meter on clock now (nil: time.Now).
func NewMeter(now func() time.Time) *Meter {
	if now == nil {
		now = time.Now
	}
	return &Meter{now: now}
}

// Count returns w with every granted Wait counted as one call.
func (m *Meter) Count(w interface{ Wait(context.Context) error }) MeteredWaiter {
	return MeteredWaiter{w: w, m: m}
}

// PerSecond returns the calls counted in the last minute, per second.
func (m *Meter) PerSecond() float64 {
	now := m.now().Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum int64
	for i, s := range m.secs {
		if s > now-meterWindow && s <= now {
			sum += m.n[i]
		}
	}
	return float64(sum) / meterWindow
}

func (m *Meter) add() {
	s := m.now().Unix()
	i := s % meterWindow
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.secs[i] != s {
		m.secs[i], m.n[i] = s, 0
	}
	m.n[i]++
}

// MeteredWaiter is a limiter whose granted Waits a Meter counts.
type MeteredWaiter struct {
	w interface{ Wait(context.Context) error }
	m *Meter
}

// NeverWaits reports whether the limiter it counts never makes a call
// wait (NeverWaits).
func (w MeteredWaiter) NeverWaits() bool { return NeverWaits(w.w) }

// NeverWaits reports whether w grants every Wait at once: a *rate.Limiter
// without a limit (ISEED_UPSTREAM_RPS=0, tests and benchmarks), or a
// limiter that says so. Anything else may make a call wait.
func NeverWaits(w interface{ Wait(context.Context) error }) bool {
	switch w := w.(type) {
	case *rate.Limiter:
		return w.Limit() == rate.Inf
	case interface{ NeverWaits() bool }:
		return w.NeverWaits()
	}
	return false
}

// Wait waits on the limiter and counts the call when it is granted.
func (w MeteredWaiter) Wait(ctx context.Context) error {
	err := w.w.Wait(ctx)
	if err == nil {
		w.m.add()
	}
	return err
}
