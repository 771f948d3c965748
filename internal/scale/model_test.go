package scale

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/workdays"
)

// TestScheduleDemand runs the default poll schedule over 100,000 ISEE
// requests submitted at 8 a second from a Monday morning in January (what
// a 10/s budget leaves after its reserve), without and with callbacks, and
// checks what it asks of the upstream once the submissions are in: within
// the budget in every minute, and a bounded number of calls per request.
func TestScheduleDemand(t *testing.T) {
	cal, err := workdays.New()
	if err != nil {
		t.Fatal(err)
	}
	rome, _ := time.LoadLocation(workdays.Zone)
	start := time.Date(2026, 1, 12, 8, 0, 0, 0, rome)
	const n, rate, budget = 100_000, 8.0, 10.0
	submitting := int(n / rate)
	tests := []struct {
		name      string
		callbacks bool
		maxCalls  float64 // tracking calls per completed request
	}{
		{"polls only", false, 30},
		{"callbacks first", true, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tracking.Polling{Callbacks: tt.callbacks, Rand: rand.New(rand.NewPCG(1, 2)).Float64}.WithDefaults()
			if err != nil {
				t.Fatal(err)
			}
			d := Model(ModelConfig{N: n, Start: start, SubmitRate: rate, Polling: p, Workload: Workload{Calendar: cal, Seed: 1}})
			after := &Demand{PerSecond: d.PerSecond[submitting:]}
			t.Logf("%s; after the submissions: peak %.2f/s in a minute, %.2f/s in an hour; minutes over %g/s: %.2f%% (%.2f%% after the submissions)",
				d, after.Peak(60), after.Peak(3600), budget, 100*d.Over(60, budget), 100*after.Over(60, budget))
			if d.Completed != n {
				t.Errorf("completed: got %d, want %d", d.Completed, n)
			}
			if got := d.PerCompleted(); got > tt.maxCalls {
				t.Errorf("tracking calls per completed request: got %.1f, want at most %g", got, tt.maxCalls)
			}
			if got := after.Peak(60); got > budget {
				t.Errorf("after the submissions the schedule asks %.2f calls/s in its busiest minute, over the %g/s budget", got, budget)
			}
		})
	}
}

// TestModelPollsWhenDue: the model schedules as the tracker does, polls
// brought forward to a request's overdue moment and to its give-up
// included (tracking.Config.NextPoll), so that a change to the tracker's
// schedule changes the model's figures; a last look that finds the
// request open ends it. The model once replayed Polling.Next alone: no
// poll came at either moment, and the request was followed past its
// maximum age to its completion.
func TestModelPollsWhenDue(t *testing.T) {
	cal, err := workdays.New()
	if err != nil {
		t.Fatal(err)
	}
	rome, _ := time.LoadLocation(workdays.Zone)
	start := time.Date(2026, 1, 12, 8, 0, 0, 0, rome)                 // a Monday: every request is done on Friday or later
	tc := tracking.Config{OverdueWorkdays: 2, MaxAge: 72 * time.Hour} // overdue on Wednesday, given up on Thursday
	overdue, giveUp := cal.Add(start, 2).Sub(start), tc.MaxAge+time.Second
	for _, callbacks := range []bool{false, true} {
		t.Run(fmt.Sprintf("callbacks %v", callbacks), func(t *testing.T) {
			p, err := tracking.Polling{Callbacks: callbacks, Calendar: cal, Rand: rand.New(rand.NewPCG(1, 2)).Float64}.WithDefaults()
			if err != nil {
				t.Fatal(err)
			}
			d := Model(ModelConfig{N: 1, Start: start, SubmitRate: 1, Polling: p, Tracking: tc, Workload: Workload{Calendar: cal, Seed: 1}})
			t.Log(d)
			for _, at := range []time.Duration{overdue, giveUp} {
				if s := int(at / time.Second); s >= len(d.PerSecond) || d.PerSecond[s] == 0 {
					t.Errorf("no poll at %v after the submission", at)
				}
			}
			if d.End != giveUp || d.Completed != 0 {
				t.Errorf("the last call at %v, %d completed; want the give-up's last look at %v, none completed", d.End, d.Completed, giveUp)
			}
			if d.Overdue != 1 || d.GaveUp != 1 {
				t.Errorf("overdue %d, given up %d; want 1 and 1", d.Overdue, d.GaveUp)
			}
		})
	}
}
