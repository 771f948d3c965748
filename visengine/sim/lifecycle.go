package sim

import "time"

// phase is a request state (stato_richiesta).
type phase uint8

const (
	phSearching  phase = iota // In ricerca: also an open draft
	phInProgress              // In erogazione
	phDataReady               // Dati disponibili: the document can be downloaded
	phFulfilled               // Visura evasa: final success
	phCancelled               // Annullata: final failure
	numPhases
)

// name is stato_richiesta.
func (p phase) name() string {
	return [numPhases]string{"In ricerca", "In erogazione", "Dati disponibili", "Visura evasa", "Annullata"}[p]
}

func (p phase) final() bool { return p == phFulfilled || p == phCancelled }

func (p phase) hasDocument() bool { return p == phDataReady || p == phFulfilled }

// timeline holds when each phase is (or was) reached; zero for phases the
// request never reaches.
type timeline [numPhases]time.Time

// lifecycle computes a request's timeline from its few mutable facts, so that
// a request's state never needs a timer: see the package documentation.
type lifecycle struct {
	submitted time.Time // zero while an open draft
	cancelled time.Time // DELETE; zero when not cancelled by the client
	doomed    bool      // CancelRate: goes In erogazione → Annullata
	// ready and done are Config.Lifetime's answer: Dati disponibili and
	// Visura evasa this long after the submission; zero: Step and 2×Step.
	ready, done time.Duration
}

func (l lifecycle) timeline(step time.Duration) timeline {
	var tl timeline
	if l.submitted.IsZero() {
		tl[phCancelled] = l.cancelled
		return tl
	}
	ready, done := step, 2*step
	if l.done > 0 {
		ready, done = l.ready, l.done
	}
	t := l.submitted
	tl[phSearching], tl[phInProgress] = t, t
	if l.doomed {
		tl[phCancelled] = t.Add(ready)
	} else {
		tl[phDataReady], tl[phFulfilled] = t.Add(ready), t.Add(done)
	}
	if c := l.cancelled; !c.IsZero() {
		for p := phDataReady; p < numPhases; p++ {
			if tl[p].After(c) {
				tl[p] = time.Time{}
			}
		}
		tl[phCancelled] = c
	}
	return tl
}

// at returns the phases reached by now (the others zeroed) and the current phase.
func (tl timeline) at(now time.Time) (timeline, phase) {
	var reached timeline
	cur, last := phSearching, time.Time{}
	for p := range numPhases {
		t := tl[p]
		if t.IsZero() || t.After(now) {
			continue
		}
		reached[p] = t
		if !t.Before(last) {
			cur, last = p, t
		}
	}
	return reached, cur
}

// manualCancel reports whether the Annullata in tl is the client's DELETE.
func (l lifecycle) manualCancel(tl timeline) bool {
	return !l.cancelled.IsZero() && tl[phCancelled].Equal(l.cancelled)
}
