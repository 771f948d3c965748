package budget

import "github.com/iseed-dev/iseed/money"

// usage is the value of a usage key: what one scope counted in one month.
// Every change is a compare-and-set on the key's revision.
type usage struct {
	Month count            `json:"month"`
	Days  map[string]count `json:"days,omitempty"` // day of the month, "05"
	// Held are the reservations neither committed nor released, by
	// "<tenant>.<submission id>": what makes Reserve idempotent and
	// Release exact.
	Held map[string]hold `json:"held,omitempty"`
}

// count is an amount and a number of requests.
type count struct {
	Cents    money.Cents `json:"cents"`
	Requests int64       `json:"requests"`
}

// hold is one reservation in flight.
type hold struct {
	Cents money.Cents `json:"cents"`
	Day   string      `json:"day"` // "2006-01-02", the Rome day it counts on
}

// limit names the cap a reservation would exceed.
type limit struct {
	period string // PeriodDay or PeriodMonth
	unit   string // UnitEUR or UnitRequests
	cap    int64
	used   int64
}

// check returns the first cap that one more request of amount on day
// ("2006-01-02") would exceed.
func (u *usage) check(day string, amount money.Cents, c Caps) (limit, bool) {
	return over(u.Month, u.Days[dayOfMonth(day)], c, amount)
}

// Refuses returns the first of one scope's caps that one more request of
// amount would exceed, given what the scope counted on the day and in the
// month as Usage returns them (with their caps), asked in the order
// Reserve and Allows ask them; ok is false when none would. Allows asks a
// tenant's scope before the account's.
func Refuses(day, month Usage, amount money.Cents) (period, unit string, ok bool) {
	caps := Caps{DailyEUR: day.CapEUR, DailyRequests: day.CapRequests, MonthlyEUR: month.CapEUR, MonthlyRequests: month.CapRequests}
	l, hit := over(count{month.Spent, month.Requests}, count{day.Spent, day.Requests}, caps, amount)
	return l.period, l.unit, hit
}

// over returns the first cap of c that one more request of amount would
// exceed, given the month's and the day's counts: month caps first (they
// block longest), euros before requests.
func over(month, d count, c Caps, amount money.Cents) (limit, bool) {
	for _, l := range []struct {
		limit
		add int64
	}{
		{limit{PeriodMonth, UnitEUR, int64(c.MonthlyEUR), int64(month.Cents)}, int64(amount)},
		{limit{PeriodMonth, UnitRequests, c.MonthlyRequests, month.Requests}, 1},
		{limit{PeriodDay, UnitEUR, int64(c.DailyEUR), int64(d.Cents)}, int64(amount)},
		{limit{PeriodDay, UnitRequests, c.DailyRequests, d.Requests}, 1},
	} {
		if l.cap > 0 && l.used+l.add > l.cap {
			return l.limit, true
		}
	}
	return limit{}, false
}

// add counts h under key. The caller has checked the caps.
func (u *usage) add(key string, h hold) {
	if u.Days == nil {
		u.Days = make(map[string]count)
	}
	if u.Held == nil {
		u.Held = make(map[string]hold)
	}
	day := dayOfMonth(h.Day)
	u.Days[day] = u.Days[day].plus(h.Cents, 1)
	u.Month = u.Month.plus(h.Cents, 1)
	u.Held[key] = h
}

// release gives back the reservation under key; false when none is held.
func (u *usage) release(key string) bool {
	h, ok := u.Held[key]
	if !ok {
		return false
	}
	day := dayOfMonth(h.Day)
	if c := u.Days[day].plus(-h.Cents, -1); c == (count{}) {
		delete(u.Days, day)
	} else {
		u.Days[day] = c
	}
	u.Month = u.Month.plus(-h.Cents, -1)
	delete(u.Held, key)
	return true
}

// commit forgets the reservation under key, which stays counted; false
// when none is held.
func (u *usage) commit(key string) bool {
	if _, ok := u.Held[key]; !ok {
		return false
	}
	delete(u.Held, key)
	return true
}

func (c count) plus(cents money.Cents, n int64) count {
	return count{Cents: c.Cents + cents, Requests: c.Requests + n}
}

// dayOfMonth is "05" for "2026-03-05".
func dayOfMonth(day string) string { return day[len(day)-2:] }
