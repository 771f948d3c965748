package tracking

import (
	"testing"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/workdays"
	"github.com/nats-io/nats.go/jetstream"
)

func rome(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(workdays.Zone)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at parses a time in Rome: "2006-01-02 15:04".
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, rome(t))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// polling is the default schedule without jitter (the source answers the
// middle of its range).
func polling(t testing.TB, callbacks bool, expect ...Expectation) Polling {
	t.Helper()
	p, err := Polling{Expect: expect, Callbacks: callbacks, Rand: func() float64 { return 0.5 }}.WithDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPollSchedule(t *testing.T) {
	const isee, other = "ISEE", "730 Singolo"
	byHash := Expectation{Services: []string{"hash-of-a-quick-service"}, Ready: Window{0, time.Hour},
		Done: Window{0, 2 * time.Hour}, Late: WorkingDays(1)}
	tests := []struct {
		name      string
		service   string
		hash      string
		state     string
		submitted string
		now       string
		callbacks bool
		want      string
	}{
		// Waiting for Dati disponibili (the DSU receipt): within a working
		// day, 4 polls, every 6h of working time; the first at a random
		// point of the first interval (the middle draw: 3h).
		{"just submitted on a Tuesday", isee, "", record.StateSubmitted, "2025-03-04 10:00", "2025-03-04 10:00", false, "2025-03-04 13:00"},
		{"in progress, still in the DSU window", isee, "", record.StateInProgress, "2025-03-04 10:00", "2025-03-04 20:00", false, "2025-03-05 02:00"},
		{"Friday evening before Easter Monday", isee, "", record.StateSubmitted, "2025-04-18 22:00", "2025-04-18 22:00", false, "2025-04-22 01:00"},
		{"Friday evening's end before Easter Monday is Tuesday's start", isee, "", record.StateSubmitted, "2025-04-18 21:00", "2025-04-18 21:00", false, "2025-04-22 00:00"},
		{"Thursday evening before Liberation Day", isee, "", record.StateSubmitted, "2025-04-24 22:00", "2025-04-24 22:00", false, "2025-04-28 01:00"},
		{"Christmas Eve, then Christmas, Santo Stefano and a weekend", isee, "", record.StateSubmitted, "2025-12-24 22:00", "2025-12-24 22:00", false, "2025-12-29 01:00"},
		{"submitted on a Saturday counts from Monday", isee, "", record.StateSubmitted, "2025-03-08 10:00", "2025-03-08 10:00", false, "2025-03-10 03:00"},
		{"DSU late: backing off", isee, "", record.StateInProgress, "2025-03-03 09:00", "2025-03-05 09:00", false, "2025-03-05 21:00"},
		// Waiting for Visura evasa: rare before 4 working days, every 6h
		// until 5, backing off until 15, then daily.
		{"DSU ready after 4h: next poll a working day later", isee, "", record.StateDataReady, "2025-04-18 21:00", "2025-04-22 01:00", false, "2025-04-23 01:00"},
		{"the last rare poll enters the window's first interval", isee, "", record.StateDataReady, "2025-03-03 09:00", "2025-03-06 21:00", false, "2025-03-07 12:00"},
		{"in the ISEE window", isee, "", record.StateDataReady, "2025-03-03 09:00", "2025-03-07 10:00", false, "2025-03-07 16:00"},
		{"in the ISEE window, over the weekend", isee, "", record.StateDataReady, "2025-03-03 09:00", "2025-03-07 22:00", false, "2025-03-10 04:00"},
		{"just after the window: still dense", isee, "", record.StateDataReady, "2025-03-03 09:00", "2025-03-10 15:00", false, "2025-03-10 21:00"},
		{"backing off: half the overshoot", isee, "", record.StateDataReady, "2025-03-03 09:00", "2025-03-11 01:00", false, "2025-03-11 09:00"},
		{"backing off: at most a working day", isee, "", record.StateDataReady, "2025-03-03 09:00", "2025-03-12 09:00", false, "2025-03-13 09:00"},
		{"after 15 working days: daily", isee, "", record.StateDataReady, "2025-03-03 09:00", "2025-03-31 09:00", false, "2025-04-01 09:00"},
		{"ISEE CORRENTE matches ISEE", "ISEE CORRENTE", "", record.StateSubmitted, "2025-03-04 10:00", "2025-03-04 10:00", false, "2025-03-04 13:00"},
		// With callbacks, polls are the safety net: intervals × 4.
		{"callbacks: DSU window", isee, "", record.StateSubmitted, "2025-03-04 10:00", "2025-03-04 10:00", true, "2025-03-04 22:00"},
		{"callbacks: before the ISEE window", isee, "", record.StateDataReady, "2025-03-03 09:00", "2025-03-04 09:00", true, "2025-03-07 21:00"},
		{"callbacks: after 15 working days, every 4", isee, "", record.StateDataReady, "2025-03-03 09:00", "2025-03-31 09:00", true, "2025-04-04 09:00"},
		// Other services: the catch-all, done within 1–5 working days.
		{"another service: a poll a working day in its 4-day window", other, "", record.StateDataReady, "2025-03-03 09:00", "2025-03-04 12:00", false, "2025-03-05 12:00"},
		{"a service configured by hash", "", "hash-of-a-quick-service", record.StateSubmitted, "2025-03-04 10:00", "2025-03-04 10:00", false, "2025-03-04 10:15"},
		{"a far past submission is simply late", isee, "", record.StateDataReady, "0001-01-01 00:00", "2025-03-04 10:00", false, "2025-03-05 10:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := polling(t, tt.callbacks, byHash, DefaultExpectations()[0])
			got := p.Next(tt.service, tt.hash, tt.state, at(t, tt.submitted), at(t, tt.now))
			if want := at(t, tt.want); !got.Equal(want) {
				t.Errorf("got %v, want %v", got.In(rome(t)), want)
			}
		})
	}
}

func TestPollScheduleJitter(t *testing.T) {
	submitted := at(t, "2025-03-04 10:00")
	tests := []struct {
		name string
		now  string
		draw float64
		want string
	}{
		{"in the window, lowest draw: 20% sooner", "2025-03-04 11:00", 0, "2025-03-04 15:48"},
		{"in the window, middle draw: on time", "2025-03-04 11:00", 0.5, "2025-03-04 17:00"},
		{"in the window, highest draw: 20% later", "2025-03-04 11:00", 0.999999, "2025-03-04 18:12"},
		{"just submitted, lowest draw: the shortest interval", "2025-03-04 10:00", 0, "2025-03-04 10:15"},
		{"just submitted, highest draw: a whole interval", "2025-03-04 10:00", 0.999999, "2025-03-04 16:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Polling{Rand: func() float64 { return tt.draw }}.WithDefaults()
			if err != nil {
				t.Fatal(err)
			}
			got := p.Next("ISEE", "", record.StateSubmitted, submitted, at(t, tt.now)).Round(time.Minute)
			if want := at(t, tt.want); !got.Equal(want) {
				t.Errorf("got %v, want %v", got.In(rome(t)), want)
			}
		})
	}
}

func TestPollingRefuses(t *testing.T) {
	tests := []struct {
		name string
		p    Polling
	}{
		{"no services", Polling{Expect: []Expectation{{Ready: Window{0, 1}, Done: Window{1, 2}, Late: 3}}}},
		{"done before ready", Polling{Expect: []Expectation{{Services: []string{"X"}, Ready: Window{WorkingDays(2), WorkingDays(3)}, Done: Window{WorkingDays(1), WorkingDays(4)}, Late: WorkingDays(5)}}}},
		{"late before done", Polling{Expect: []Expectation{{Services: []string{"X"}, Done: Window{0, WorkingDays(4)}, Late: WorkingDays(3)}}}},
		{"sparse under min", Polling{Min: time.Hour, Sparse: time.Minute}},
		{"jitter over 1", Polling{Jitter: 1.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tt.p.WithDefaults(); err == nil {
				t.Error("got no error, want one")
			}
		})
	}
}

func TestOverdueCountsWorkingDays(t *testing.T) {
	tests := []struct {
		name      string
		days      int
		submitted string
		now       string
		want      bool
	}{
		{"a minute short of 15 working days", 15, "2025-03-03 10:00", "2025-03-24 09:59", false},
		{"15 working days", 15, "2025-03-03 10:00", "2025-03-24 10:00", true},
		{"21 calendar days are not 15 working days over Easter", 15, "2025-04-14 10:00", "2025-05-05 10:00", false},
		{"15 working days over Easter, 25 April and 1 May", 15, "2025-04-14 10:00", "2025-05-08 10:00", true},
		{"Good Friday evening: 5 working days skip Easter Monday and 25 April", 5, "2025-04-18 21:00", "2025-04-29 20:59", false},
		{"Good Friday evening plus 5 working days", 5, "2025-04-18 21:00", "2025-04-29 21:00", true},
		{"a Saturday counts from Monday: not yet", 1, "2025-03-08 10:00", "2025-03-10 23:59", false},
		{"a Saturday counts from Monday", 1, "2025-03-08 10:00", "2025-03-11 00:00", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &Tracker{cfg: Config{OverdueWorkdays: tt.days, Polling: polling(t, false)}}
			if got := tr.overdue(at(t, tt.submitted), at(t, tt.now)); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTimebase(t *testing.T) {
	real0 := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC)
	sim0 := at(t, "2026-01-12 08:00")
	two := Timebase{Scale: 60, Real: real0, Sim: sim0, Then: 3600, Switch: real0.Add(time.Minute)} // an hour, then an hour a second
	tests := []struct {
		name      string
		tb        Timebase
		t         time.Time
		wantAt    time.Time
		d         time.Duration
		wantDelay time.Duration
	}{
		{"zero is the identity", Timebase{}, real0, real0, time.Hour, time.Hour},
		{"scale 1 with origins moves the clock", Timebase{Scale: 1, Real: real0, Sim: sim0}, real0.Add(time.Minute), sim0.Add(time.Minute), time.Hour, time.Hour},
		{"scale 3600: a real second is a simulated hour", Timebase{Scale: 3600, Real: real0, Sim: sim0}, real0.Add(2 * time.Second), sim0.Add(2 * time.Hour), time.Hour, time.Second},
		{"before the origin", Timebase{Scale: 3600, Real: real0, Sim: sim0}, real0.Add(-time.Second), sim0.Add(-time.Hour), time.Hour, time.Second},
		{"two speeds: before the switch", two, real0.Add(30 * time.Second), sim0.Add(30 * time.Minute), 10 * time.Minute, 10 * time.Second},
		{"two speeds: a delay across the switch", two, real0.Add(30 * time.Second), sim0.Add(30 * time.Minute), 30*time.Minute + 2*time.Hour, 32 * time.Second},
		{"two speeds: after the switch", two, real0.Add(62 * time.Second), sim0.Add(3 * time.Hour), time.Hour, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tb.At(tt.t); !got.Equal(tt.wantAt) {
				t.Errorf("At: got %v, want %v", got, tt.wantAt)
			}
			if got := tt.tb.RealAt(tt.wantAt); !got.Equal(tt.t) {
				t.Errorf("RealAt: got %v, want %v", got, tt.t)
			}
			if got := tt.tb.Delay(tt.t, tt.d); got != tt.wantDelay {
				t.Errorf("Delay: got %v, want %v", got, tt.wantDelay)
			}
		})
	}
}

func TestNextPoll(t *testing.T) {
	submitted := at(t, "2025-03-04 10:00")
	now := func() time.Time { return submitted.Add(time.Hour) }
	tests := []struct {
		name      string
		cfg       Config
		tk        task
		o         trackOutcome
		delivered uint64
		want      time.Duration
	}{
		{"a fixed schedule by delivery", Config{Schedule: []time.Duration{time.Minute, time.Hour}}, task{}, trackOutcome{}, 1, time.Minute},
		{"its last step repeats", Config{Schedule: []time.Duration{time.Minute, time.Hour}}, task{}, trackOutcome{}, 9, time.Hour},
		{"a fixed schedule on an accelerated clock", Config{Schedule: []time.Duration{time.Hour}, Timebase: Timebase{Scale: 60, Real: submitted, Sim: submitted}}, task{}, trackOutcome{}, 1, time.Minute},
		{"the first delivery schedules from the task", Config{}, task{Service: "ISEE", Submitted: submitted}, trackOutcome{}, 1, 6 * time.Hour},
		{"a poll schedules from the record and the state reached", Config{},
			task{}, trackOutcome{State: record.StateDataReady, Rec: &record.Record{Service: "ISEE", State: record.StateInProgress,
				Timeline: []record.Transition{{State: record.StateSubmitted, At: submitted}}}}, 2, 24 * time.Hour},
		{"a task of before: its timestamp and the catch-all", Config{}, task{}, trackOutcome{}, 1, 6 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg.withDefaults()
			cfg.Now = now
			cfg.Polling = polling(t, false)
			tr := &Tracker{cfg: cfg}
			meta := &jetstream.MsgMetadata{NumDelivered: tt.delivered, Timestamp: submitted}
			if got := tr.nextPoll(tt.tk, meta, tt.o); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNextPollComesWhenDue: a request whose overdue event is due before
// its next scheduled poll is polled when it is due, so that the event
// comes on time (the walk saw it come a poll interval late); once the
// event is out, the schedule alone decides. So is one that tracking gives
// up on before then: just past its maximum age.
func TestNextPollComesWhenDue(t *testing.T) {
	submitted := at(t, "2025-03-04 10:00") // a Tuesday: overdue after 1 working day on Wednesday at 10:00
	now := func() time.Time { return at(t, "2025-03-05 06:00") }
	rec := func(tl ...record.Transition) *record.Record {
		return &record.Record{Service: "ISEE", State: record.StateInProgress,
			Timeline: append([]record.Transition{{State: record.StateSubmitted, At: submitted}}, tl...)}
	}
	tests := []struct {
		name     string
		workdays int
		maxAge   time.Duration
		o        trackOutcome
		want     time.Duration
	}{
		{"overdue before the scheduled poll", 1, 0, trackOutcome{Rec: rec()}, 4 * time.Hour},
		{"overdue announced already", 1, 0, trackOutcome{Rec: rec(record.Transition{State: record.StateOverdue, At: now()})}, 6 * time.Hour},
		{"overdue after the scheduled poll", 2, 0, trackOutcome{Rec: rec()}, 6 * time.Hour},
		{"given up before the scheduled poll", 2, 21 * time.Hour, trackOutcome{Rec: rec()}, time.Hour + time.Second},
		{"given up after the scheduled poll", 2, 30 * time.Hour, trackOutcome{Rec: rec()}, 6 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{OverdueWorkdays: tt.workdays, MaxAge: tt.maxAge}.withDefaults()
			cfg.Now = now
			cfg.Polling = polling(t, false)
			tr := &Tracker{cfg: cfg}
			meta := &jetstream.MsgMetadata{NumDelivered: 2, Timestamp: submitted}
			if got := tr.nextPoll(task{}, meta, tt.o); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNextPollStretchesOnlyForAPromisedCallback: with callbacks on and
// trusted, a request's polls are stretched when its POST carried
// callback_data, and when its record is older than the field saying so
// (as every request was before); never for a request posted without
// callback_data, which no callback will ever announce. The first delivery
// tells from its task, later polls from the record.
func TestNextPollStretchesOnlyForAPromisedCallback(t *testing.T) {
	submitted := at(t, "2025-03-04 10:00")
	now := func() time.Time { return submitted.Add(time.Hour) }
	yes, no := true, false
	rec := func(cb *bool) *record.Record {
		return &record.Record{Service: "ISEE", State: record.StateSubmitted, Callback: cb,
			Timeline: []record.Transition{{State: record.StateSubmitted, At: submitted}}}
	}
	plain, stretched := 6*time.Hour, 24*time.Hour
	tests := []struct {
		name string
		tk   task
		o    trackOutcome
		want time.Duration
	}{
		{"the task of a promised request", task{Service: "ISEE", Submitted: submitted, Callback: &yes}, trackOutcome{}, stretched},
		{"the task of an unpromised request", task{Service: "ISEE", Submitted: submitted, Callback: &no}, trackOutcome{}, plain},
		{"a task of before the field", task{Service: "ISEE", Submitted: submitted}, trackOutcome{}, stretched},
		{"a promised record", task{}, trackOutcome{Rec: rec(&yes)}, stretched},
		{"an unpromised record", task{}, trackOutcome{Rec: rec(&no)}, plain},
		{"a record of before the field", task{}, trackOutcome{Rec: rec(nil)}, stretched},
		{"the record decides over the task", task{Callback: &yes}, trackOutcome{Rec: rec(&no)}, plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{}.withDefaults()
			cfg.Now = now
			cfg.Polling = polling(t, true)
			tr := &Tracker{cfg: cfg, trust: newCallbackTrust(now(), nil)}
			meta := &jetstream.MsgMetadata{NumDelivered: 1, Timestamp: submitted}
			if got := tr.nextPoll(tt.tk, meta, tt.o); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
