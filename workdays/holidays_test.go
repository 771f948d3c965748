package workdays

import (
	"testing"
	"time"
)

// easterDates are the dates of Western Easter 2000–2040 as published in
// calendar tables (cross-checked with python-dateutil's easter(), which uses
// a different method), not computed by the code under test.
var easterDates = map[int]string{
	2000: "04-23", 2001: "04-15", 2002: "03-31", 2003: "04-20", 2004: "04-11",
	2005: "03-27", 2006: "04-16", 2007: "04-08", 2008: "03-23", 2009: "04-12",
	2010: "04-04", 2011: "04-24", 2012: "04-08", 2013: "03-31", 2014: "04-20",
	2015: "04-05", 2016: "03-27", 2017: "04-16", 2018: "04-01", 2019: "04-21",
	2020: "04-12", 2021: "04-04", 2022: "04-17", 2023: "04-09", 2024: "03-31",
	2025: "04-20", 2026: "04-05", 2027: "03-28", 2028: "04-16", 2029: "04-01",
	2030: "04-21", 2031: "04-13", 2032: "03-28", 2033: "04-17", 2034: "04-09",
	2035: "03-25", 2036: "04-13", 2037: "04-05", 2038: "04-25", 2039: "04-10",
	2040: "04-01",
}

func TestEasterKnownDates(t *testing.T) {
	if len(easterDates) != 41 {
		t.Fatalf("table has %d years, want 41 (2000–2040)", len(easterDates))
	}
	for year, want := range easterDates {
		m, d := Easter(year)
		if got := time.Date(year, m, d, 0, 0, 0, 0, time.UTC).Format("01-02"); got != want {
			t.Errorf("Easter(%d) = %s, want %s", year, got, want)
		}
	}
}

// TestEasterIsASundayInRange checks every year the algorithm covers against
// the two facts that define its range: Easter is a Sunday from 22 March to
// 25 April.
func TestEasterIsASundayInRange(t *testing.T) {
	for year := 1583; year <= 4099; year++ {
		m, d := Easter(year)
		e := time.Date(year, m, d, 0, 0, 0, 0, time.UTC)
		if e.Weekday() != time.Sunday {
			t.Errorf("Easter(%d) = %s, a %s", year, e.Format("2006-01-02"), e.Weekday())
		}
		if lo, hi := time.Date(year, 3, 22, 0, 0, 0, 0, time.UTC), time.Date(year, 4, 25, 0, 0, 0, 0, time.UTC); e.Before(lo) || e.After(hi) {
			t.Errorf("Easter(%d) = %s, outside 22 March–25 April", year, e.Format("2006-01-02"))
		}
	}
}

func TestHoliday(t *testing.T) {
	tests := []struct {
		date string
		want bool
	}{
		{"2025-01-01", true}, {"2025-01-06", true}, {"2025-01-07", false},
		{"2025-04-20", false}, // Easter Sunday is not a holiday of its own here (it is a Sunday)
		{"2025-04-21", true}, {"2025-04-22", false},
		{"2024-04-01", true}, // Easter on 31 March: Monday in April
		{"2024-03-31", false},
		{"2011-04-25", true}, // Easter Monday on Liberation Day
		{"2038-04-26", true}, // the latest Easter Monday
		{"2008-03-24", true}, // an early one
		{"2025-04-25", true}, {"2025-05-01", true}, {"2025-06-02", true},
		{"2025-08-15", true}, {"2025-11-01", true}, {"2025-12-08", true},
		{"2025-12-25", true}, {"2025-12-26", true}, {"2025-12-24", false},
		{"2025-12-31", false}, {"2025-06-29", false}, {"2025-12-07", false},
		{"2025-11-02", false}, {"2025-08-14", false}, {"2025-03-19", false},
		// San Francesco d'Assisi, a national holiday again from 2026
		// (legge 8 ottobre 2025, n. 151); not before.
		{"2025-10-04", false}, {"2026-10-04", true}, {"2027-10-04", true}, {"2027-10-05", false},
	}
	for _, tt := range tests {
		d, err := time.Parse(time.DateOnly, tt.date)
		if err != nil {
			t.Fatal(err)
		}
		if got := holiday(d.Date()); got != tt.want {
			t.Errorf("holiday(%s) = %v, want %v", tt.date, got, tt.want)
		}
	}
}
