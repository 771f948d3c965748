package tracking

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/workdays"
)

// The poll schedule. A request is polled rarely while it cannot reasonably
// be done, more often while it is expected to change, and less and less
// after that. Expectations are per service and per state, in working time
// since the submission on the Italian calendar (package workdays): an ISEE
// request has its DSU receipt (Dati disponibili) within about a working
// day and the certificate (Visura evasa) in 4–5 working days, sometimes
// 10–15.
//
// The schedule is memoryless: the next delay depends only on the service,
// the state the request is waiting to leave, and the working time w since
// the submission, never on how many polls came before. For the window
// [From, To] of the next state, with dense = max(Min, (To−From)/Polls):
//
//	w < From − Sparse   Sparse                          rare
//	w < From + Min      From − w + U×dense              into the window's first interval
//	From ≤ w < To       dense                           the window: Polls polls
//	To ≤ w < Late       (w − To)/2 within [dense, Sparse]   back off
//	Late ≤ w            Sparse
//
// With callbacks on, dense and Sparse are multiplied by Stretch: callbacks
// tell at once, polls are the safety net. U is a uniform draw (Rand):
// requests submitted together (an onboarding) enter a window spread over
// its first interval instead of all at its start. Polls are at least Min
// apart, so only the first delivery of a task, which schedules without
// polling, sees w below Min, and its first poll is spread so too. Every
// other interval is spread by ±Jitter with the same draw. All are at least
// Min and are converted to a wall-clock delay on the calendar: a poll due
// during a weekend or a holiday comes after it, on the next working day. A
// poll that comes late, because the upstream budget held it, only
// shortens the next interval: a request never owes polls.

// Window is a span of working time since the submission.
type Window struct {
	From, To time.Duration
}

// Expectation is when the requests of some services are expected to move
// on, in working time since their submission.
type Expectation struct {
	// Services are the hash_visura values or names it applies to, matched
	// as in Services (a name matches as a word sequence, case and
	// punctuation ignored); "*" matches every service.
	Services []string
	Ready    Window        // Dati disponibili (for an ISEE: the DSU receipt)
	Done     Window        // Visura evasa
	Late     time.Duration // by when nearly every request is done: backing off ends, Sparse goes on
}

// WorkingDays is n working days of working time.
func WorkingDays(n float64) time.Duration { return time.Duration(n * float64(24*time.Hour)) }

// DefaultExpectations are the expectations used when none are configured:
// ISEE (and the services whose name contains it) in 4–5 working days, its
// DSU within one, nearly all within 15; any other service within 1–5
// working days.
func DefaultExpectations() []Expectation {
	return []Expectation{
		{Services: []string{"ISEE"}, Ready: Window{0, WorkingDays(1)}, Done: Window{WorkingDays(4), WorkingDays(5)}, Late: WorkingDays(15)},
		{Services: []string{"*"}, Ready: Window{0, WorkingDays(1)}, Done: Window{WorkingDays(1), WorkingDays(5)}, Late: WorkingDays(15)},
	}
}

// Check reports an expectation that cannot be used.
func (e Expectation) Check() error {
	switch {
	case len(e.Services) == 0:
		return fmt.Errorf("an expectation names no service")
	case e.Ready.From < 0 || e.Ready.To < e.Ready.From:
		return fmt.Errorf("%v: the Dati disponibili window %s–%s is not a window", e.Services, days(e.Ready.From), days(e.Ready.To))
	case e.Done.To < e.Done.From || e.Done.From < e.Ready.From:
		return fmt.Errorf("%v: the Visura evasa window %s–%s is not a window starting with or after the Dati disponibili one",
			e.Services, days(e.Done.From), days(e.Done.To))
	case e.Late < e.Done.To || e.Late <= 0:
		return fmt.Errorf("%v: late (%s) must be positive and not before the end of the Visura evasa window (%s)", e.Services, days(e.Late), days(e.Done.To))
	}
	return nil
}

// days writes working time in working days.
func days(d time.Duration) string {
	return fmt.Sprintf("%g working days", float64(d)/float64(WorkingDays(1)))
}

// Polling configures the schedule.
type Polling struct {
	Expect    []Expectation      // first match wins; none: DefaultExpectations (a "*" entry is always added last)
	Polls     int                // polls within a window (default 4)
	Min       time.Duration      // the shortest interval (default 15m)
	Sparse    time.Duration      // the longest interval (default 24h: one working day)
	Jitter    float64            // 0..1: each interval spread by ±this share (default 0.2; negative for none)
	Stretch   float64            // intervals × this when callbacks are on (default 4)
	Callbacks bool               // callbacks are configured: polls are the safety net
	Calendar  *workdays.Calendar // default workdays.New()
	Rand      func() float64     // uniform in [0, 1): the jitter source (default math/rand/v2)
}

// WithDefaults returns p with its defaults filled in, or why it cannot be
// used.
func (p Polling) WithDefaults() (Polling, error) {
	if len(p.Expect) == 0 {
		p.Expect = DefaultExpectations()
	}
	if last := p.Expect[len(p.Expect)-1]; !(len(last.Services) == 1 && last.Services[0] == "*") {
		p.Expect = append(p.Expect[:len(p.Expect):len(p.Expect)], DefaultExpectations()[1])
	}
	for _, e := range p.Expect {
		if err := e.Check(); err != nil {
			return p, err
		}
	}
	if p.Polls <= 0 {
		p.Polls = 4
	}
	if p.Min <= 0 {
		p.Min = 15 * time.Minute
	}
	if p.Sparse <= 0 {
		p.Sparse = WorkingDays(1)
	}
	if p.Sparse < p.Min {
		return p, fmt.Errorf("the longest poll interval (%v) is shorter than the shortest (%v)", p.Sparse, p.Min)
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = 0.2
	case p.Jitter < 0:
		p.Jitter = 0
	case p.Jitter > 1:
		return p, fmt.Errorf("jitter must be a share between 0 and 1, got %g", p.Jitter)
	}
	if p.Stretch < 1 {
		p.Stretch = 4
	}
	if p.Calendar == nil {
		cal, err := workdays.New()
		if err != nil {
			return p, err
		}
		p.Calendar = cal
	}
	if p.Rand == nil {
		p.Rand = rand.Float64 // safe for concurrent use
	}
	return p, nil
}

// expectation returns the first expectation that names the service.
func (p Polling) expectation(name, hash string) Expectation {
	for _, e := range p.Expect {
		if (len(e.Services) == 1 && e.Services[0] == "*") || matches(e.Services, name, hash) {
			return e
		}
	}
	return p.Expect[len(p.Expect)-1]
}

// interval is the working time until the next poll of a request waiting
// for a state in window win (backing off until late), w after its
// submission; u is a uniform draw in [0, 1) that spreads it.
func (p Polling) interval(win Window, late, w time.Duration, u float64) time.Duration {
	stretch := 1.0
	if p.Callbacks {
		stretch = p.Stretch
	}
	sparse := time.Duration(float64(p.Sparse) * stretch)
	dense := max(p.Min, time.Duration(float64(win.To-win.From)/float64(p.Polls)*stretch))
	dense = min(dense, sparse)
	var iv time.Duration
	switch {
	case w < win.From+p.Min && win.From-w < sparse:
		// Enter the window at a random point of its first interval (a
		// request just submitted is entering its first window), so that
		// requests submitted together do not poll together.
		return max(win.From-w+time.Duration(u*float64(dense)), p.Min)
	case w < win.From:
		iv = sparse
	case w < win.To:
		iv = dense
	case w < late:
		iv = min(sparse, max(dense, (w-win.To)/2))
	default:
		iv = sparse
	}
	iv = time.Duration(float64(iv) * (1 + p.Jitter*(2*u-1)))
	return max(iv, p.Min)
}

// Next returns the instant of the next poll of a request of service
// (name, hash) submitted at submitted, at now, waiting to leave state
// (a record state: before data_ready it waits for Dati disponibili, then
// for Visura evasa). p must come from WithDefaults.
func (p Polling) Next(name, hash, state string, submitted, now time.Time) time.Time {
	e := p.expectation(name, hash)
	win := e.Done
	if rank(state) < rank(record.StateDataReady) {
		win = e.Ready
	}
	// A far past (or zero) submission is long past Late: counting from a
	// year ago is enough and keeps WorkingTime's day-by-day walk short.
	w := p.Calendar.WorkingTime(later(submitted, now.AddDate(-1, 0, 0)), now)
	return p.Calendar.AddTime(now, p.interval(win, e.Late, w, p.Rand()))
}

// Timebase maps the daemon's clock to the clock the schedule runs on. The
// zero Timebase is the identity: production. A benchmark runs the
// simulator and the tracker in accelerated time: Sim is the simulated
// instant at the real instant Real, and simulated time runs Scale times
// faster from there; from the real instant Switch on (when Then is set) it
// runs Then times faster instead. The tracker's delays are converted back
// to real time through the same map, so a delay that spans the switch is
// right on both sides of it.
type Timebase struct {
	Scale  float64
	Real   time.Time
	Sim    time.Time
	Then   float64
	Switch time.Time
}

// accelerated reports whether the timebase is not the identity.
func (b Timebase) accelerated() bool {
	return b.Scale > 0 && b.Scale != 1 || !b.Real.Equal(b.Sim) || b.switches()
}

func (b Timebase) switches() bool { return b.Then > 0 && !b.Switch.IsZero() }

// At returns the schedule's instant at the daemon's instant t.
func (b Timebase) At(t time.Time) time.Time {
	if !b.accelerated() {
		return t
	}
	if b.switches() && t.After(b.Switch) {
		return b.At(b.Switch).Add(scaled(t.Sub(b.Switch), b.Then))
	}
	return b.Sim.Add(scaled(t.Sub(b.Real), b.scale()))
}

// RealAt returns the daemon's instant at which the schedule's clock reads s.
func (b Timebase) RealAt(s time.Time) time.Time {
	if !b.accelerated() {
		return s
	}
	if b.switches() {
		if sw := b.At(b.Switch); s.After(sw) {
			return b.Switch.Add(scaled(s.Sub(sw), 1/b.Then))
		}
	}
	return b.Real.Add(scaled(s.Sub(b.Sim), 1/b.scale()))
}

// Delay returns the real delay, from the daemon's instant now, until the
// schedule's clock has advanced by d (at least 0).
func (b Timebase) Delay(now time.Time, d time.Duration) time.Duration {
	if !b.accelerated() {
		return max(d, 0)
	}
	return max(b.RealAt(b.At(now).Add(d)).Sub(now), 0)
}

func (b Timebase) scale() float64 {
	if b.Scale <= 0 {
		return 1
	}
	return b.Scale
}

// scaled multiplies d by f.
func scaled(d time.Duration, f float64) time.Duration {
	return time.Duration(math.Round(float64(d) * f))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Validate reports a schedule that cannot be used, as New would.
func (p Polling) Validate() error {
	_, err := p.WithDefaults()
	return err
}
