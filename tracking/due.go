package tracking

import (
	"time"

	"github.com/iseed-dev/iseed/record"
)

// The moments a request's poll is due beyond its schedule: its overdue
// event and its give-up. The tracker and the scale model
// (internal/scale) both schedule by NextPoll, so the model's figures
// follow the tracker's schedule.

// Tracked is what a request's next scheduled poll depends on, all on the
// schedule's clock (Timebase).
type Tracked struct {
	Service, Hash string    // the service's name and hash_visura
	State         string    // the record state it waits to leave
	Submitted     time.Time // its upstream request's creation
	// Since is when its current tracking began: its submission, or the
	// last replay that reopened it (trackedSince); zero while no record
	// was read (a new task's first delivery), which sets no give-up.
	Since      time.Time
	OverdueOut bool // its overdue event is out
}

// NextPoll returns the instant, on the schedule's clock, of the next
// scheduled poll of r at now: c.Polling's Next, brought forward to the
// moment r's overdue event is due, while it is not out, or to the moment
// tracking gives up on it (just past MaxAge, so that Expired holds, and,
// while a failed last look is tried again, just past LastLookGrace): a
// poll then announces either on time, not up to an interval (with
// callbacks trusted, four working days) late. c.Polling comes from
// WithDefaults, with Callbacks as they apply to r; zero OverdueWorkdays
// and MaxAge are their defaults.
func (c Config) NextPoll(r Tracked, now time.Time) time.Time {
	c = c.withDefaults()
	at := c.Polling.Next(r.Service, r.Hash, r.State, r.Submitted, now)
	due := make([]time.Time, 0, 2)
	if !r.OverdueOut {
		due = append(due, c.Polling.Calendar.Add(r.Submitted, c.OverdueWorkdays))
	}
	if !r.Since.IsZero() {
		due = append(due, r.Since.Add(c.MaxAge+time.Second))
		if c.LastLookGrace > 0 {
			// A last look that failed is tried again within its grace,
			// and tracking gives up at its end: a failure whose retry the
			// schedule sets (a request the upstream does not know, a
			// receipt not served yet, a document over the size limit)
			// would otherwise wait for the next scheduled poll, a working
			// day or more past it.
			due = append(due, r.Since.Add(c.MaxAge+c.LastLookGrace+time.Second))
		}
	}
	for _, d := range due {
		if d.After(now) && d.Before(at) {
			at = d
		}
	}
	return at
}

// Overdue reports whether a request submitted at submitted is, at now
// (both on the schedule's clock), open for OverdueWorkdays working days:
// whether that many working days after its submission, at the same time
// of day in Rome, has come. c.Polling comes from WithDefaults.
func (c Config) Overdue(submitted, now time.Time) bool {
	n := c.withDefaults().OverdueWorkdays
	if now.Sub(submitted) < WorkingDays(float64(n)) {
		return false // fewer calendar days than working days
	}
	return !c.Polling.Calendar.Add(submitted, n).After(now)
}

// Expired reports whether a request tracked since since is, at now (both
// on the schedule's clock), tracked longer than MaxAge: its poll is a last
// look, and tracking gives up on it unless that finds it finished
// (pastMaxAge).
func (c Config) Expired(since, now time.Time) bool {
	return now.Sub(since) > c.withDefaults().MaxAge
}

// asTracked is what the schedule knows of a request whose poll read rec
// (nil when none: a new task's first delivery, scheduled from its task tk
// and meta's timestamp), in state when the poll told it.
func (t *Tracker) asTracked(tk task, submittedAt time.Time, rec *record.Record, state string) Tracked {
	tb := t.cfg.Timebase
	r := Tracked{Service: tk.Service, Hash: tk.Hash, State: state, Submitted: tk.Submitted}
	if rec != nil {
		r.Service, r.Hash, r.Submitted = rec.Service, rec.ServiceHash, rec.SubmittedAt()
		r.Since, r.OverdueOut = tb.At(trackedSince(rec)), overdueNoted(rec)
		if r.State == "" {
			r.State = rec.State
		}
	}
	if r.State == "" {
		r.State = record.StateSubmitted // In ricerca, or not polled yet
	}
	if r.Submitted.IsZero() {
		r.Submitted = submittedAt // the task is published right after the POST
	}
	r.Submitted = tb.At(r.Submitted)
	return r
}
