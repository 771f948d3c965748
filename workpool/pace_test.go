package workpool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fakeInfo is a consumer whose AckWait, or error, the test sets.
type fakeInfo struct {
	ackWait time.Duration
	err     error
	reads   int
}

func (f *fakeInfo) Info(context.Context) (*jetstream.ConsumerInfo, error) {
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	return &jetstream.ConsumerInfo{Config: jetstream.ConsumerConfig{AckWait: f.ackWait}}, nil
}

// TestPace: a held message is kept in progress every third of the
// AckWait its consumer had at the last read; every 333 ms when the last
// read failed, or when it is not recent enough for a hold to start by it.
// The AckWait is read at most once a period (1 s to 30 s).
func TestPace(t *testing.T) {
	fallback := InProgressEvery(MinAckWait)
	type step struct {
		after     time.Duration // the clock moves on
		ackWait   time.Duration // the consumer's now
		err       error         // or its info cannot be read
		refresh   bool          // Refresh, rather than Every
		want      time.Duration
		wantReads int // reads so far
	}
	down := errors.New("no responders")
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"nothing read yet", []step{
			{ackWait: 6 * time.Second, want: fallback},
			{ackWait: 6 * time.Second, refresh: true, want: 2 * time.Second, wantReads: 1},
		}},
		{"read at most once a period", []step{
			{ackWait: 6 * time.Second, refresh: true, want: 2 * time.Second, wantReads: 1},
			{after: time.Second, ackWait: 3 * time.Second, refresh: true, want: 2 * time.Second, wantReads: 1},
			{after: time.Second, ackWait: 3 * time.Second, refresh: true, want: time.Second, wantReads: 2},
		}},
		{"at most 30 s between reads", []step{
			{ackWait: 5 * time.Minute, refresh: true, want: 100 * time.Second, wantReads: 1},
			{after: 30 * time.Second, ackWait: 5 * time.Minute, refresh: true, want: 100 * time.Second, wantReads: 2},
		}},
		{"the last read, not a shorter one before it", []step{
			{ackWait: 1500 * time.Millisecond, refresh: true, want: 500 * time.Millisecond, wantReads: 1},
			{after: 2 * time.Second, ackWait: 6 * time.Second, refresh: true, want: 2 * time.Second, wantReads: 2},
			{after: 2 * time.Second, ackWait: 1500 * time.Millisecond, refresh: true, want: 500 * time.Millisecond, wantReads: 3},
		}},
		{"a read that fails", []step{
			{ackWait: 6 * time.Second, refresh: true, want: 2 * time.Second, wantReads: 1},
			{after: 2 * time.Second, err: down, refresh: true, want: fallback, wantReads: 2},
			{after: 500 * time.Millisecond, err: down, refresh: true, want: fallback, wantReads: 2},
			{after: 500 * time.Millisecond, ackWait: 6 * time.Second, refresh: true, want: 2 * time.Second, wantReads: 3},
		}},
		{"a hold that starts long after the last read", []step{
			{ackWait: 6 * time.Second, refresh: true, want: 2 * time.Second, wantReads: 1},
			{after: 61 * time.Second, ackWait: time.Second, want: fallback, wantReads: 1},
			{ackWait: time.Second, refresh: true, want: fallback, wantReads: 2},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
			f := &fakeInfo{}
			p := &Pace{consumer: f, now: func() time.Time { return now }}
			for i, s := range tc.steps {
				now = now.Add(s.after)
				f.ackWait, f.err = s.ackWait, s.err
				var got time.Duration
				if s.refresh {
					got = p.Refresh(context.Background())
				} else {
					got = p.Every()
				}
				if got != s.want || f.reads != s.wantReads {
					t.Errorf("step %d: got every %s after %d reads, want %s after %d", i, got, f.reads, s.want, s.wantReads)
				}
			}
		})
	}
}
