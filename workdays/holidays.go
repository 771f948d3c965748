package workdays

import "time"

// working reports whether t's date, read in t's location, is a working day.
func working(t time.Time) bool {
	switch t.Weekday() {
	case time.Saturday, time.Sunday:
		return false
	}
	y, m, d := t.Date()
	return !holiday(y, m, d)
}

// holiday reports whether the date is an Italian national holiday: 1 Jan
// (Capodanno), 6 Jan (Epifania), Easter Monday (Lunedì dell'Angelo), 25 Apr
// (Liberazione), 1 May (Festa del lavoro), 2 Jun (Festa della Repubblica),
// 15 Aug (Ferragosto), 4 Oct from 2026 (San Francesco d'Assisi: legge 8
// ottobre 2025, n. 151), 1 Nov (Ognissanti), 8 Dec (Immacolata), 25 Dec
// (Natale), 26 Dec (Santo Stefano).
func holiday(y int, m time.Month, d int) bool {
	switch m {
	case time.January:
		return d == 1 || d == 6
	case time.March, time.April:
		if m == time.April && d == 25 {
			return true
		}
		em, ed := Easter(y)
		monday := time.Date(y, em, ed+1, 0, 0, 0, 0, time.UTC) // Easter Monday
		_, mm, md := monday.Date()
		return m == mm && d == md
	case time.May:
		return d == 1
	case time.June:
		return d == 2
	case time.August:
		return d == 15
	case time.October:
		return d == 4 && y >= 2026
	case time.November:
		return d == 1
	case time.December:
		return d == 8 || d == 25 || d == 26
	}
	return false
}

// Easter returns the date of Easter Sunday in the Gregorian calendar (years
// from 1583), computed with the anonymous Gregorian algorithm (Meeus,
// Astronomical Algorithms, ch. 8).
func Easter(year int) (time.Month, int) {
	a := year % 19
	b, c := year/100, year%100
	d, e := b/4, b%4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i, k := c/4, c%4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	n := h + l - 7*m + 114
	return time.Month(n / 31), n%31 + 1
}
