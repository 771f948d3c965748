package consumer

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
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
