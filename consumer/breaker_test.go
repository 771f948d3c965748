package consumer

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
	"github.com/sony/gobreaker/v2"
)

// TestBreakerOpensAfterTheConfiguredFailures: the breaker opens after
// BreakerConfig.Failures consecutive failures, not sooner, whatever the
// number: one above 32 bits is not cut to fewer.
func TestBreakerOpensAfterTheConfiguredFailures(t *testing.T) {
	bits := 32
	wide := 1 << bits // 1<<32; the rows with it need a 64-bit int
	tests := []struct {
		failures, calls int
		wantOpen        bool
		wide            bool // needs a 64-bit int
	}{
		{3, 2, false, false},
		{3, 3, true, false},
		{1, 1, true, false},
		{math.MaxInt, 3, false, false},
		{wide - 1, 1, false, true}, // the largest 32-bit count
		{wide, 1, false, true},     // cut to 32 bits: 0, opened by the first failure
		{wide + 2, 2, false, true}, // cut to 32 bits: 2
	}
	unwell := errors.New("connection refused")
	for _, tt := range tests {
		if tt.wide && strconv.IntSize < 64 {
			continue
		}
		b := newBreaker(BreakerConfig{Failures: tt.failures, Cooldown: time.Hour}, zerolog.Nop(), nil)
		for range tt.calls {
			_, _ = b.Execute(func() (*visengine.Richiesta, error) { return nil, unwell })
		}
		if got := b.State() == gobreaker.StateOpen; got != tt.wantOpen {
			t.Errorf("Failures %d, after %d failures: got open %v, want %v", tt.failures, tt.calls, got, tt.wantOpen)
		}
	}
}

// TestBreakerStateGaugeStaysUpUntilAPOSTSucceeds: the state gauge is 2
// while the breaker is open and 1 while it is half-open, and drops to 0
// only when a trial POST succeeds; the open gauge is 1 while open only.
// With no submission to be the trial, a breaker stays half-open: the
// alert (IseedBreakerOpen, on the state gauge) stays with it, where the
// open gauge alone cleared it after the cooldown (deploy/prometheus/
// alerts_test.yaml, job "quiet").
func TestBreakerStateGaugeStaysUpUntilAPOSTSucceeds(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	b := newBreaker(BreakerConfig{Failures: 2, Cooldown: 20 * time.Millisecond}, zerolog.Nop(), m)
	gauges := func(step string, wantOpen, wantState float64) {
		t.Helper()
		if open, state := testutil.ToFloat64(m.breaker), testutil.ToFloat64(m.state); open != wantOpen || state != wantState {
			t.Fatalf("%s: iseed_upstream_breaker_open %v, iseed_upstream_breaker_state %v; want %v and %v", step, open, state, wantOpen, wantState)
		}
	}
	halfOpen := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for b.State() != gobreaker.StateHalfOpen {
			if time.Now().After(deadline) {
				t.Fatalf("the breaker is %v 5 s after its 20 ms cooldown, not half-open", b.State())
			}
			time.Sleep(time.Millisecond)
		}
	}
	unwell := errors.New("connection refused")
	fail := func() { _, _ = b.Execute(func() (*visengine.Richiesta, error) { return nil, unwell }) }

	gauges("new", 0, 0)
	fail()
	gauges("one failure of two", 0, 0)
	fail()
	gauges("open", 1, 2)
	halfOpen()
	gauges("half-open after the cooldown, no trial yet", 0, 1)
	fail()
	gauges("the trial failed", 1, 2)
	halfOpen()
	gauges("half-open again", 0, 1)
	if _, err := b.Execute(func() (*visengine.Richiesta, error) { return &visengine.Richiesta{}, nil }); err != nil {
		t.Fatal(err)
	}
	gauges("the trial succeeded", 0, 0)
}
