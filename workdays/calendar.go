package workdays

import (
	"fmt"
	"time"

	// The package's answers depend on Europe/Rome; embedding the zone
	// database (about 450 KB) keeps them right where the image has none.
	// The time/tzdata docs suggest importing it from main; a library whose
	// contract names a zone is the exception they leave room for.
	_ "time/tzdata"
)

// Zone is the time zone whose midnights separate days.
const Zone = "Europe/Rome"

// Calendar answers working-day questions in Europe/Rome. It is safe for
// concurrent use; the zero value is not usable (use [New]).
type Calendar struct {
	loc *time.Location
}

// New returns the Italian working-day calendar.
func New() (*Calendar, error) {
	loc, err := time.LoadLocation(Zone)
	if err != nil {
		return nil, fmt.Errorf("workdays: %w", err)
	}
	return &Calendar{loc: loc}, nil
}

// IsWorkingDay reports whether t falls, in Europe/Rome, on a day from
// Monday to Friday that is not a national holiday.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	return working(t.In(c.loc))
}

// Add returns the instant n working days after t, at the same time of day
// in Europe/Rome. A t on a weekend or holiday counts from the start
// (midnight) of the next working day, so Add(saturday, 0) is Monday 00:00.
// The result always falls on a working day. Add panics if n is negative.
func (c *Calendar) Add(t time.Time, n int) time.Time {
	if n < 0 {
		panic(fmt.Sprintf("workdays: Add of %d working days", n))
	}
	start := c.workStart(t.In(c.loc))
	day := c.midnight(start)
	for ; n > 0; n-- {
		day = c.nextWorkingDay(day)
	}
	return c.atClockOf(day, start).In(t.Location())
}

// AddTime returns the instant at which d of working time has passed since
// t: time on weekends and holidays does not count. A t on a weekend or
// holiday counts from the start of the next working day, and a span that
// ends exactly at a working day's end ends at the start of the next working
// day instead, so the result always falls on a working day. AddTime(t,
// n×24h) equals Add(t, n). AddTime panics if d is negative.
func (c *Calendar) AddTime(t time.Time, d time.Duration) time.Time {
	if d < 0 {
		panic(fmt.Sprintf("workdays: AddTime of %v", d))
	}
	cur := c.workStart(t.In(c.loc))
	for {
		end := c.nextDay(cur)
		left := end.Sub(cur)
		if d < left {
			return cur.Add(d).In(t.Location())
		}
		d -= left
		cur = c.workStart(end)
	}
}

// Between returns the number of whole working days from a to b: the largest
// n ≥ 0 with Add(a, n) not after b. "Overdue after 15 working days" is
// Between(submitted, now) >= 15.
func (c *Calendar) Between(a, b time.Time) int {
	start := c.workStart(a.In(c.loc))
	n := 0
	for day := c.midnight(start); ; n++ {
		day = c.nextWorkingDay(day)
		if c.atClockOf(day, start).After(b) {
			return n
		}
	}
}

// WorkingTime returns the working time between a and b: how much of the
// interval [a, b) falls on working days. It is 0 when b is not after a.
func (c *Calendar) WorkingTime(a, b time.Time) time.Duration {
	var sum time.Duration
	for t := a.In(c.loc); t.Before(b); {
		end := c.nextDay(t)
		if working(t) {
			sum += minTime(end, b).Sub(t)
		}
		t = end
	}
	return sum
}

// workStart returns t (in c.loc) when it is on a working day, or else the
// start of the next working day.
func (c *Calendar) workStart(t time.Time) time.Time {
	for !working(t) {
		t = c.nextDay(t)
	}
	return t
}

// midnight returns the start of t's day in c.loc.
func (c *Calendar) midnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, c.loc)
}

// nextDay returns the start of the day after t's day in c.loc.
func (c *Calendar) nextDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, c.loc)
}

// nextWorkingDay returns the start of the first working day after t's day.
func (c *Calendar) nextWorkingDay(t time.Time) time.Time {
	return c.workStart(c.nextDay(t))
}

// atClockOf returns the instant on day's date at clock's time of day.
func (c *Calendar) atClockOf(day, clock time.Time) time.Time {
	y, m, d := day.Date()
	h, mi, s := clock.Clock()
	return time.Date(y, m, d, h, mi, s, clock.Nanosecond(), c.loc)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
