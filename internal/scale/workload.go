package scale

import (
	"time"

	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/workdays"
)

// Workload is how long the simulated upstream takes with each request, in
// working time on the Italian calendar: Dati disponibili (the DSU receipt)
// within a working day, Visura evasa (the ISEE) in 4–5 working days, or in
// 10–15 for a share of them. Draws depend only on Seed and the request's
// creation order, so that a run replays.
type Workload struct {
	Calendar  *workdays.Calendar
	Seed      uint64
	SlowShare float64 // share done in 10–15 working days (default 0.1; negative: none)
}

// Lifetime fits sim.Config.Lifetime: the delays after the submission at
// which a request reaches Dati disponibili and Visura evasa.
func (w Workload) Lifetime(_ string, submitted time.Time, seq uint64) (ready, done time.Duration) {
	r, d := w.Working(seq)
	return w.Calendar.AddTime(submitted, r).Sub(submitted), w.Calendar.AddTime(submitted, d).Sub(submitted)
}

// Working returns request seq's working time to Dati disponibili and to
// Visura evasa.
func (w Workload) Working(seq uint64) (ready, done time.Duration) {
	slow := w.SlowShare
	if slow == 0 {
		slow = 0.1
	}
	u1, u2, u3 := unit(w.Seed, seq, 1), unit(w.Seed, seq, 2), unit(w.Seed, seq, 3)
	ready = tracking.WorkingDays(0.05 + 0.95*u1)
	done = tracking.WorkingDays(4 + u2)
	if u3 < slow {
		done = tracking.WorkingDays(10 + 5*u2)
	}
	return ready, done
}

// unit is a uniform draw in [0, 1) from (seed, seq, k).
func unit(seed, seq, k uint64) float64 {
	x := seed ^ seq*0x9e3779b97f4a7c15 ^ k*0xbf58476d1ce4e5b9
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}
