package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

type failing struct{}

func (failing) Wait(context.Context) error { return errors.New("no token") }

// A Meter averages the granted calls of the last minute; refused ones and
// older ones do not count.
func TestMeterPerSecond(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	m := NewMeter(func() time.Time { return now })
	granted, refused := m.Count(rate.NewLimiter(rate.Inf, 1)), m.Count(failing{})
	if got := m.PerSecond(); got != 0 {
		t.Fatalf("before any call: got %g calls/s, want 0", got)
	}
	for range 60 {
		now = now.Add(time.Second)
		for range 2 {
			if err := granted.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		_ = refused.Wait(context.Background())
	}
	if got := m.PerSecond(); got != 2 {
		t.Errorf("after a minute of 2 granted calls a second: got %g calls/s, want 2", got)
	}
	now = now.Add(30 * time.Second)
	if got := m.PerSecond(); got != 1 {
		t.Errorf("half a minute later: got %g calls/s, want 1", got)
	}
	now = now.Add(time.Minute)
	if got := m.PerSecond(); got != 0 {
		t.Errorf("a minute and a half later: got %g calls/s, want 0", got)
	}
}
