package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/ratelimit"
)

// TestPauseStopsEveryReplica: the upstream answered one replica's call
// with 429 and Retry-After; no replica may call again before then, and
// the calls then resume at the budget's pace, not in a burst. Pauses do
// not add up, and one is bounded by MaxPause.
func TestPauseStopsEveryReplica(t *testing.T) {
	s := natstest.Run(t)
	const rate, burst = 50.0, 5
	const pause = 600 * time.Millisecond
	a := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst})
	b := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Wait(ctx, ratelimit.Submission); err != nil { // b has read the bucket before the pause
		t.Fatal(err)
	}

	t0 := time.Now()
	if _, err := a.Pause(ctx, pause); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Pause(ctx, pause/3); err != nil { // ends sooner: changes nothing
		t.Fatal(err)
	}
	if got := a.Stats().Pauses; got != 1 {
		t.Errorf("pauses written: %d, want 1 (a shorter one adds nothing)", got)
	}
	at := make(chan time.Time, 2*burst)
	for range cap(at) {
		go func() {
			if b.Wait(ctx, ratelimit.Submission) == nil {
				at <- time.Now()
			}
		}()
	}
	var grants []time.Duration
	for range cap(at) {
		select {
		case ti := <-at:
			grants = append(grants, ti.Sub(t0))
		case <-ctx.Done():
			t.Fatalf("granted %d of %d after the pause: %v", len(grants), cap(at), grants)
		}
	}
	// The pause was written after t0 on the server's clock, and the other
	// replica's estimate of that clock never runs ahead of it.
	if grants[0] < pause {
		t.Errorf("the other replica was granted a call %v after the pause began, want at least %v", grants[0], pause)
	}
	// After it, one call per 1/rate: no burst.
	for i, g := range grants {
		if least := pause + time.Duration(float64(i)/rate*float64(time.Second)); g < least {
			t.Errorf("grant %d at %v, want at least %v: the calls resumed in a burst (%v)", i+1, g, least, grants)
			break
		}
	}

	long := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst, MaxPause: 300 * time.Millisecond})
	t1 := time.Now()
	if _, err := long.Pause(ctx, 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := long.Wait(ctx, ratelimit.Submission); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t1); took < 300*time.Millisecond {
		t.Errorf("a pause of 48h bounded to 300ms let a call through after %v", took)
	}
	// the bound holds: the Wait returned, within the test's deadline
}

// TestPauseBesideWaits: a Pause comes from whichever call got the 429,
// while the process's fetcher is taking tokens for the others (run it
// with -race).
func TestPauseBesideWaits(t *testing.T) {
	s := natstest.Run(t)
	l := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: 200, Burst: 5})
	var g grants
	ctx, cancel := context.WithCancel(context.Background())
	done := hammer(ctx, l, "replica", ratelimit.Poll, 4, &g)
	waitFor(t, func() bool { return g.count() >= 20 })
	for range 5 {
		if _, err := l.Pause(context.Background(), 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	before := g.count()
	waitFor(t, func() bool { return g.count() >= before+20 }) // the Waits go on after the pauses
	cancel()
	done()
	if l.Stats().Pauses == 0 {
		t.Error("no pause was written")
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPauseOnAnOldEntryStartsWhenWritten: the pause is a debt as of when
// the server stored it. A replica that has not written the bucket for a
// while (quiet, or its tokens taken long ago) estimates the server's clock
// from the old entry it reads, a lower bound that runs behind by the
// entry's age: a debt dated by that estimate would be paid back, in
// everyone's refill, by the time that already passed, and the pause would
// end early, or never begin.
func TestPauseOnAnOldEntryStartsWhenWritten(t *testing.T) {
	s := natstest.Run(t)
	const rate, burst = 50.0, 5
	const pause = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	quiet := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst})
	if err := quiet.Wait(ctx, ratelimit.Submission); err != nil { // its round writes the bucket
		t.Fatal(err)
	}
	time.Sleep(2 * pause) // the setup, not a wait for a result: the entry the pause reads is now this old

	p := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst})
	t0 := time.Now()
	if paused, err := p.Pause(ctx, pause); err != nil || !paused {
		t.Fatalf("pause: %v, %v", paused, err)
	}
	other := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst})
	if err := other.Wait(ctx, ratelimit.Submission); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(t0); took < pause {
		t.Errorf("a replica was granted a call %v after a pause of %v began on a %v-old entry, want at least %v", took, pause, 2*pause, pause)
	}
}
