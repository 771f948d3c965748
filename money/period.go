package money

import (
	"fmt"
	"time"

	// Periods are civil days and months in Europe/Rome; embedding the zone
	// database keeps them right where the image has none (as workdays does).
	_ "time/tzdata"
)

// Zone is the time zone whose midnights separate days and months.
const Zone = "Europe/Rome"

// Rome loads the Europe/Rome location. Load it once and pass it on.
func Rome() (*time.Location, error) {
	loc, err := time.LoadLocation(Zone)
	if err != nil {
		return nil, fmt.Errorf("money: %w", err)
	}
	return loc, nil
}

// Period is the span [From, To).
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Contains reports whether t falls in [From, To).
func (p Period) Contains(t time.Time) bool { return !t.Before(p.From) && t.Before(p.To) }

// Day returns the civil day of t in loc, from its midnight to the next.
func Day(t time.Time, loc *time.Location) Period {
	y, m, d := t.In(loc).Date()
	return Period{From: time.Date(y, m, d, 0, 0, 0, 0, loc), To: time.Date(y, m, d+1, 0, 0, 0, 0, loc)}
}

// Month returns the civil month of t in loc, from its first midnight to the
// next month's.
func Month(t time.Time, loc *time.Location) Period {
	y, m, _ := t.In(loc).Date()
	return Period{From: time.Date(y, m, 1, 0, 0, 0, 0, loc), To: time.Date(y, m+1, 1, 0, 0, 0, 0, loc)}
}
