package workdays_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/workdays"
)

func newCalendar(t testing.TB) (*workdays.Calendar, *time.Location) {
	t.Helper()
	c, err := workdays.New()
	if err != nil {
		t.Fatal(err)
	}
	rome, err := time.LoadLocation(workdays.Zone)
	if err != nil {
		t.Fatal(err)
	}
	return c, rome
}

// at parses "2006-01-02 15:04" or "2006-01-02 15:04:05.999999999" in Rome.
func at(t testing.TB, rome *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, rome)
	if err != nil {
		v, err = time.ParseInLocation("2006-01-02 15:04:05.999999999", s, rome)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIsWorkingDay(t *testing.T) {
	c, rome := newCalendar(t)
	tests := []struct {
		name string
		t    time.Time
		want bool
	}{
		{"Tuesday", at(t, rome, "2025-03-04 12:00"), true},
		{"Saturday", at(t, rome, "2025-03-08 12:00"), false},
		{"Sunday", at(t, rome, "2025-03-09 12:00"), false},
		{"Monday 00:00", at(t, rome, "2025-03-10 00:00"), true},
		{"Easter Monday 2025", at(t, rome, "2025-04-21 09:00"), false},
		{"Tuesday after Easter", at(t, rome, "2025-04-22 09:00"), true},
		{"Liberation Day on a Friday", at(t, rome, "2025-04-25 09:00"), false},
		{"Christmas Eve", at(t, rome, "2025-12-24 18:00"), true},
		{"Santo Stefano", at(t, rome, "2025-12-26 18:00"), false},
		{"New Year's Eve", at(t, rome, "2025-12-31 23:59"), true},
		// Day boundaries are Rome's, whatever t's location.
		{"1 Jan 00:30 in Rome, 31 Dec in UTC", time.Date(2025, 12, 31, 23, 30, 0, 0, time.UTC), false},
		{"2 Jan 00:30 in Rome, 1 Jan in UTC", time.Date(2026, 1, 1, 23, 30, 0, 0, time.UTC), true},
		{"Saturday 01:30 in Rome, Friday in UTC (summer time)", time.Date(2025, 7, 4, 23, 30, 0, 0, time.UTC), false},
		{"Friday 23:30 in Rome, Friday in UTC", time.Date(2025, 7, 4, 21, 30, 0, 0, time.UTC), true},
	}
	for _, tt := range tests {
		if got := c.IsWorkingDay(tt.t); got != tt.want {
			t.Errorf("%s: IsWorkingDay(%v) = %v, want %v", tt.name, tt.t, got, tt.want)
		}
	}
}

func TestAdd(t *testing.T) {
	c, rome := newCalendar(t)
	tests := []struct {
		name string
		from string
		n    int
		want string
	}{
		{"zero on a working day", "2025-03-04 10:00", 0, "2025-03-04 10:00"},
		{"within the week", "2025-03-04 10:00", 3, "2025-03-07 10:00"},
		{"over a weekend", "2025-03-07 10:00", 1, "2025-03-10 10:00"},
		{"five days is a week", "2025-03-05 16:20", 5, "2025-03-12 16:20"},
		{"Saturday counts from Monday 00:00", "2025-03-08 10:00", 0, "2025-03-10 00:00"},
		{"Saturday plus one", "2025-03-08 10:00", 1, "2025-03-11 00:00"},
		{"Friday midnight plus one is Monday midnight", "2025-03-07 00:00", 1, "2025-03-10 00:00"},
		{"over Easter 2025", "2025-04-17 11:00", 2, "2025-04-22 11:00"},
		{"Easter Monday counts from Tuesday", "2025-04-21 11:00", 1, "2025-04-23 00:00"},
		{"over Liberation Day and a weekend", "2025-04-24 11:00", 1, "2025-04-28 11:00"},
		{"over 1 May", "2025-04-30 11:00", 1, "2025-05-02 11:00"},
		{"Easter Monday in April after Easter on 31 March", "2024-03-29 09:00", 1, "2024-04-02 09:00"},
		{"over Christmas", "2025-12-23 15:00", 2, "2025-12-29 15:00"},
		{"over New Year", "2025-12-31 15:00", 1, "2026-01-02 15:00"},
		{"over Epiphany", "2026-01-02 15:00", 1, "2026-01-05 15:00"},
		{"fifteen days from 1 December", "2025-12-01 09:00", 15, "2025-12-23 09:00"},
		{"over spring forward", "2025-03-28 10:00", 1, "2025-03-31 10:00"},
		{"over fall back", "2025-10-24 10:00", 1, "2025-10-27 10:00"},
		{"early hours over spring forward", "2025-03-28 02:30", 1, "2025-03-31 02:30"},
	}
	for _, tt := range tests {
		got := c.Add(at(t, rome, tt.from), tt.n)
		if want := at(t, rome, tt.want); !got.Equal(want) {
			t.Errorf("%s: Add(%s, %d) = %v, want %v", tt.name, tt.from, tt.n, got.In(rome), want)
		}
	}
}

func TestAddKeepsLocation(t *testing.T) {
	c, _ := newCalendar(t)
	from := time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)
	got := c.Add(from, 1)
	if got.Location() != time.UTC {
		t.Errorf("Add location = %v, want UTC", got.Location())
	}
	if want := from.Add(24 * time.Hour); !got.Equal(want) {
		t.Errorf("Add(%v, 1) = %v, want %v", from, got, want)
	}
}

func TestAddTime(t *testing.T) {
	c, rome := newCalendar(t)
	tests := []struct {
		name string
		from string
		d    time.Duration
		want string
	}{
		{"zero", "2025-03-04 10:00", 0, "2025-03-04 10:00"},
		{"within a day", "2025-03-04 10:00", 90 * time.Minute, "2025-03-04 11:30"},
		{"into the next day", "2025-03-04 23:30", time.Hour, "2025-03-05 00:30"},
		{"Friday night into Monday", "2025-03-07 23:30", time.Hour, "2025-03-10 00:30"},
		{"just short of Friday's end", "2025-03-07 23:00", time.Hour - time.Nanosecond, "2025-03-07 23:59:59.999999999"},
		{"exactly Friday's end is Monday's start", "2025-03-07 23:00", time.Hour, "2025-03-10 00:00"},
		{"from a Sunday", "2025-03-09 15:00", 15 * time.Minute, "2025-03-10 00:15"},
		{"zero from a Sunday", "2025-03-09 15:00", 0, "2025-03-10 00:00"},
		{"over Easter", "2025-04-18 22:00", 4 * time.Hour, "2025-04-22 02:00"},
		{"over Christmas and Santo Stefano", "2025-12-24 23:00", 2 * time.Hour, "2025-12-29 01:00"},
		{"over New Year", "2025-12-31 12:00", 24 * time.Hour, "2026-01-02 12:00"},
		// The summer-time changes fall on Sundays, which do not count.
		{"over spring forward", "2025-03-28 20:00", 8 * time.Hour, "2025-03-31 04:00"},
		{"over fall back", "2025-10-24 20:00", 8 * time.Hour, "2025-10-27 04:00"},
		{"a whole week of working time", "2025-03-04 10:00", 5 * 24 * time.Hour, "2025-03-11 10:00"},
	}
	for _, tt := range tests {
		want := at(t, rome, tt.want)
		if got := c.AddTime(at(t, rome, tt.from), tt.d); !got.Equal(want) {
			t.Errorf("%s: AddTime(%s, %v) = %v, want %v", tt.name, tt.from, tt.d, got.In(rome), want)
		}
	}
}

func TestBetween(t *testing.T) {
	c, rome := newCalendar(t)
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"same instant", "2025-03-04 10:00", "2025-03-04 10:00", 0},
		{"b before a", "2025-03-04 10:00", "2025-03-03 10:00", 0},
		{"one minute short of a day", "2025-03-04 10:00", "2025-03-05 09:59", 0},
		{"one day", "2025-03-04 10:00", "2025-03-05 10:00", 1},
		{"over a weekend", "2025-03-07 10:00", "2025-03-10 10:00", 1},
		{"a weekend alone", "2025-03-08 00:00", "2025-03-10 00:00", 0},
		{"Saturday to Tuesday midnight", "2025-03-08 10:00", "2025-03-11 00:00", 1},
		{"Easter week", "2025-04-17 10:00", "2025-04-24 10:00", 4},
		{"Christmas to Epiphany", "2025-12-23 10:00", "2026-01-07 10:00", 7},
		{"fifteen working days", "2025-12-01 09:00", "2025-12-23 09:00", 15},
		{"fifteen minus a minute", "2025-12-01 09:00", "2025-12-23 08:59", 14},
	}
	for _, tt := range tests {
		if got := c.Between(at(t, rome, tt.a), at(t, rome, tt.b)); got != tt.want {
			t.Errorf("%s: Between(%s, %s) = %d, want %d", tt.name, tt.a, tt.b, got, tt.want)
		}
	}
}

func TestWorkingTime(t *testing.T) {
	c, rome := newCalendar(t)
	tests := []struct {
		name string
		a, b string
		want time.Duration
	}{
		{"empty", "2025-03-04 10:00", "2025-03-04 10:00", 0},
		{"reversed", "2025-03-04 10:00", "2025-03-04 09:00", 0},
		{"an hour", "2025-03-04 10:00", "2025-03-04 11:00", time.Hour},
		{"a weekend", "2025-03-08 00:00", "2025-03-10 00:00", 0},
		{"Friday night to Monday morning", "2025-03-07 22:00", "2025-03-10 02:00", 4 * time.Hour},
		{"Easter weekend", "2025-04-17 12:00", "2025-04-22 12:00", 2 * 24 * time.Hour},
		{"a week over spring forward", "2025-03-24 00:00", "2025-03-31 00:00", 5 * 24 * time.Hour},
		{"a week over fall back", "2025-10-20 00:00", "2025-10-27 00:00", 5 * 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := c.WorkingTime(at(t, rome, tt.a), at(t, rome, tt.b)); got != tt.want {
			t.Errorf("%s: WorkingTime(%s, %s) = %v, want %v", tt.name, tt.a, tt.b, got, tt.want)
		}
	}
}

// TestConsistency checks, on random instants of 2000–2040, that the four
// operations agree with each other as the package doc says they do.
func TestConsistency(t *testing.T) {
	c, rome := newCalendar(t)
	rng := rand.New(rand.NewPCG(13, 2025))
	lo := time.Date(2000, 1, 1, 0, 0, 0, 0, rome).Unix()
	hi := time.Date(2040, 12, 1, 0, 0, 0, 0, rome).Unix()
	for range 3000 {
		a := time.Unix(lo+rng.Int64N(hi-lo), rng.Int64N(1e9)).In(rome)
		n := rng.IntN(25)
		end := c.Add(a, n)
		if !c.IsWorkingDay(end) {
			t.Fatalf("Add(%v, %d) = %v, not a working day", a, n, end)
		}
		if got := c.AddTime(a, time.Duration(n)*24*time.Hour); !got.Equal(end) {
			t.Fatalf("AddTime(%v, %d×24h) = %v, want Add's %v", a, n, got, end)
		}
		if got := c.Between(a, end); got != n {
			t.Fatalf("Between(%v, Add(…, %d) = %v) = %d, want %d", a, n, end, got, n)
		}
		if n > 0 {
			if got := c.Between(a, end.Add(-time.Nanosecond)); got != n-1 {
				t.Fatalf("Between(%v, %v) = %d, want %d", a, end.Add(-time.Nanosecond), got, n-1)
			}
		}
		d := time.Duration(rng.Int64N(int64(20 * 24 * time.Hour)))
		after := c.AddTime(a, d)
		if got := c.WorkingTime(a, after); got != d {
			t.Fatalf("WorkingTime(%v, AddTime(…, %v) = %v) = %v, want %v", a, d, after, got, d)
		}
		if !c.IsWorkingDay(after) {
			t.Fatalf("AddTime(%v, %v) = %v, not a working day", a, d, after)
		}
	}
}

func TestNegativePanics(t *testing.T) {
	c, _ := newCalendar(t)
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	for name, f := range map[string]func(){
		"Add":     func() { c.Add(now, -1) },
		"AddTime": func() { c.AddTime(now, -time.Second) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with a negative amount did not panic", name)
				}
			}()
			f()
		}()
	}
}

func BenchmarkAdd15(b *testing.B) {
	c, rome := newCalendar(b)
	from := at(b, rome, "2025-12-01 09:00")
	b.ReportAllocs()
	for b.Loop() {
		c.Add(from, 15)
	}
}

func BenchmarkBetween60Days(b *testing.B) {
	c, rome := newCalendar(b)
	from, to := at(b, rome, "2025-11-01 09:00"), at(b, rome, "2025-12-31 09:00")
	b.ReportAllocs()
	for b.Loop() {
		c.Between(from, to)
	}
}

func BenchmarkAddTimeHour(b *testing.B) {
	c, rome := newCalendar(b)
	from := at(b, rome, "2025-12-24 23:30")
	b.ReportAllocs()
	for b.Loop() {
		c.AddTime(from, time.Hour)
	}
}
