package scale

import (
	"fmt"
	"slices"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
)

// ModelConfig is a run of the demand model.
type ModelConfig struct {
	N          int              // requests
	Start      time.Time        // the first submission, on the simulated clock
	SubmitRate float64          // submissions per second
	Polling    tracking.Polling // from WithDefaults; its Callbacks says whether callbacks re-read
	// Tracking is the tracker's configuration beyond its Polling (which
	// Polling replaces): OverdueWorkdays and MaxAge, zero for their
	// defaults, bring polls forward (tracking.Config.NextPoll).
	Tracking tracking.Config
	Workload Workload
	Service  string // the service's name (default "ISEE")
}

// Demand is what the schedule asks of the upstream, every call counted in
// the second it is due, with no budget to delay it.
type Demand struct {
	PerSecond   []int32 // calls due in each second from Start
	Submissions int     // POST /richiesta
	Polls       int     // GET /richiesta/{id} of scheduled polls
	Refreshes   int     // GET /richiesta/{id} that callbacks trigger
	Documents   int     // GET /documento/{id}
	Completed   int
	Overdue     int           // requests a poll or re-read found open at their overdue moment
	GaveUp      int           // requests whose last look, past MaxAge, found them open
	End         time.Duration // the last call, after Start
}

// Calls is every upstream call.
func (d *Demand) Calls() int { return d.Submissions + d.Polls + d.Refreshes + d.Documents }

// PerCompleted is the tracking calls (all but the POST) per completed request.
func (d *Demand) PerCompleted() float64 {
	return float64(d.Polls+d.Refreshes+d.Documents) / float64(max(d.Completed, 1))
}

// Peak returns the most calls due in any window of w seconds (aligned on
// Start), per second.
func (d *Demand) Peak(w int) float64 {
	best, sum := 0, 0
	for i, n := range d.PerSecond {
		sum += int(n)
		if i >= w {
			sum -= int(d.PerSecond[i-w])
		}
		best = max(best, sum)
	}
	return float64(best) / float64(w)
}

// Over returns the share of windows of w seconds, from the first
// submission to the last call, whose calls exceed rate per second.
func (d *Demand) Over(w int, rate float64) float64 {
	over, all := 0, 0
	for i := 0; i+w <= len(d.PerSecond); i += w {
		sum := 0
		for _, n := range d.PerSecond[i : i+w] {
			sum += int(n)
		}
		all++
		if float64(sum) > rate*float64(w) {
			over++
		}
	}
	return float64(over) / float64(max(all, 1))
}

// String summarises the demand for a log line.
func (d *Demand) String() string {
	return fmt.Sprintf("%d calls over %s: %d submissions, %d polls, %d callback re-reads, %d documents; %d completed, %d overdue, %d given up; %.2f tracking calls per completed request; peak %.1f/s in a second, %.2f/s in a minute, %.2f/s in an hour",
		d.Calls(), d.End.Round(time.Hour), d.Submissions, d.Polls, d.Refreshes, d.Documents, d.Completed, d.Overdue, d.GaveUp, d.PerCompleted(), d.Peak(1), d.Peak(60), d.Peak(3600))
}

// Model replays the tracker's schedule (tracking.Config.NextPoll) for
// every request of c.
func Model(c ModelConfig) *Demand {
	if c.Service == "" {
		c.Service = "ISEE"
	}
	c.Tracking.Polling = c.Polling
	d := &Demand{}
	for i := range c.N {
		submitted := c.Start.Add(time.Duration(float64(i) / c.SubmitRate * float64(time.Second)))
		d.count(c.Start, submitted, 1)
		d.Submissions++
		d.follow(c, submitted, uint64(i+1))
	}
	return d
}

// follow replays one request's tracking: scheduled polls (brought forward
// to its overdue moment and to its give-up, as the tracker's are) and,
// with callbacks, a re-read at each state change; it ends when a read
// sees Visura evasa (and fetches the final document), or when a poll past
// the maximum age, the last look, finds it still open.
func (d *Demand) follow(c ModelConfig, submitted time.Time, seq uint64) {
	cal, tc := c.Workload.Calendar, c.Tracking
	readyW, doneW := c.Workload.Working(seq)
	ready, done := cal.AddTime(submitted, readyW), cal.AddTime(submitted, doneW)
	var hints []time.Time // callbacks still to come
	if tc.Polling.Callbacks {
		hints = []time.Time{ready, done}
	}
	r := tracking.Tracked{Service: c.Service, State: record.StateSubmitted, Submitted: submitted}
	doc := false
	poll := tc.NextPoll(r, submitted) // the task's first delivery reads no record: it only schedules
	r.Since = submitted               // every later poll reads it
	for {
		at, polled := poll, true
		if len(hints) > 0 && !hints[0].After(poll) {
			at, polled, hints = hints[0], false, hints[1:]
		}
		d.count(c.Start, at, 1)
		if polled {
			d.Polls++
		} else {
			d.Refreshes++
		}
		switch {
		case !at.Before(done):
			d.count(c.Start, at, 1) // the final document
			d.Documents++
			d.Completed++
			return
		case !at.Before(ready) && !doc:
			d.count(c.Start, at, 1) // the DSU receipt
			d.Documents++
			r.State, doc = record.StateDataReady, true
		}
		if polled && tc.Expired(r.Since, at) {
			d.GaveUp++ // the last look found it open
			return
		}
		if !r.OverdueOut && tc.Overdue(submitted, at) {
			r.OverdueOut = true
			d.Overdue++
		}
		if polled {
			poll = tc.NextPoll(r, at)
		}
	}
}

// count adds n calls at at.
func (d *Demand) count(start, at time.Time, n int32) {
	s := int(at.Sub(start) / time.Second)
	if s >= len(d.PerSecond) {
		d.PerSecond = slices.Grow(d.PerSecond, s+1-len(d.PerSecond)+86400)[:s+1]
	}
	d.PerSecond[s] += n
	d.End = max(d.End, at.Sub(start))
}
