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
	Workload   Workload
	Service    string // the service's name (default "ISEE")
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
	return fmt.Sprintf("%d calls over %s: %d submissions, %d polls, %d callback re-reads, %d documents; %.2f tracking calls per completed request; peak %.1f/s in a second, %.2f/s in a minute, %.2f/s in an hour",
		d.Calls(), d.End.Round(time.Hour), d.Submissions, d.Polls, d.Refreshes, d.Documents, d.PerCompleted(), d.Peak(1), d.Peak(60), d.Peak(3600))
}

// Model replays the poll schedule for every request of c.
func Model(c ModelConfig) *Demand {
	if c.Service == "" {
		c.Service = "ISEE"
	}
	d := &Demand{}
	for i := range c.N {
		submitted := c.Start.Add(time.Duration(float64(i) / c.SubmitRate * float64(time.Second)))
		d.count(c.Start, submitted, 1)
		d.Submissions++
		d.follow(c, submitted, uint64(i+1))
	}
	return d
}

// follow replays one request's tracking: scheduled polls and, with
// callbacks, a re-read at each state change; it ends when a read sees
// Visura evasa (and fetches the final document).
func (d *Demand) follow(c ModelConfig, submitted time.Time, seq uint64) {
	cal, p := c.Workload.Calendar, c.Polling
	readyW, doneW := c.Workload.Working(seq)
	ready, done := cal.AddTime(submitted, readyW), cal.AddTime(submitted, doneW)
	var hints []time.Time // callbacks still to come
	if p.Callbacks {
		hints = []time.Time{ready, done}
	}
	state, doc := record.StateSubmitted, false
	poll := p.Next(c.Service, "", state, submitted, submitted) // the task's first delivery only schedules
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
			state, doc = record.StateDataReady, true
		}
		if polled {
			poll = p.Next(c.Service, "", state, submitted, at)
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
