package money_test

import (
	"testing"
	"time"

	"github.com/iseed-dev/iseed/money"
)

func TestPeriods(t *testing.T) {
	rome, err := money.Rome()
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name       string
		at         string
		day, month [2]string // From, To in UTC
	}{
		{"winter noon", "2026-01-15T12:00:00Z",
			[2]string{"2026-01-14T23:00:00Z", "2026-01-15T23:00:00Z"}, [2]string{"2025-12-31T23:00:00Z", "2026-01-31T23:00:00Z"}},
		{"23:30 UTC on March 31 is April 1 in Rome", "2026-03-31T23:30:00Z",
			[2]string{"2026-03-31T22:00:00Z", "2026-04-01T22:00:00Z"}, [2]string{"2026-03-31T22:00:00Z", "2026-04-30T22:00:00Z"}},
		{"the day clocks go forward has 23 hours", "2026-03-29T12:00:00Z",
			[2]string{"2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"}, [2]string{"2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"}},
		{"the day clocks go back has 25 hours", "2026-10-25T12:00:00Z",
			[2]string{"2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z"}, [2]string{"2026-09-30T22:00:00Z", "2026-10-31T23:00:00Z"}},
		{"new year's eve 23:30 UTC is next year in Rome", "2026-12-31T23:30:00Z",
			[2]string{"2026-12-31T23:00:00Z", "2027-01-01T23:00:00Z"}, [2]string{"2026-12-31T23:00:00Z", "2027-01-31T23:00:00Z"}},
	}
	for _, tt := range tests {
		at := utc(tt.at)
		d, m := money.Day(at, rome), money.Month(at, rome)
		if !d.From.Equal(utc(tt.day[0])) || !d.To.Equal(utc(tt.day[1])) {
			t.Errorf("%s: Day = [%v, %v), want [%s, %s)", tt.name, d.From.UTC(), d.To.UTC(), tt.day[0], tt.day[1])
		}
		if !m.From.Equal(utc(tt.month[0])) || !m.To.Equal(utc(tt.month[1])) {
			t.Errorf("%s: Month = [%v, %v), want [%s, %s)", tt.name, m.From.UTC(), m.To.UTC(), tt.month[0], tt.month[1])
		}
		if !d.Contains(at) || !m.Contains(at) || d.Contains(d.To) || !d.Contains(d.From) {
			t.Errorf("%s: Contains is not [From, To)", tt.name)
		}
	}
}
