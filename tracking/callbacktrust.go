package tracking

import (
	"sync"
	"time"

	"github.com/iseed-dev/iseed/record"
)

// Callback trust. With callbacks configured the schedule stretches every
// interval (Polling.Stretch), trusting callbacks to say at once. Callbacks
// that silently never arrive (a public URL the upstream cannot reach, a
// proxy dropping them, a body refused every time) would leave every
// request tracked that much slower for good, and nobody told. So the
// tracker watches for evidence: a poll that finds a request moved on is
// news no callback brought (a genuine one would have refreshed the record
// first); a genuine callback is proof that they arrive. Only requests
// promised a callback count (record.Record.Callback: their POST carried
// callback_data): one posted before callbacks were turned on, or found by
// reconciliation with no sign that its POST carried one, is announced by
// no callback, and its news says nothing of them. After polls found news
// on distrustAfter different requests promised a callback, with no
// genuine callback for distrustQuiet, polls stop stretching until a
// genuine callback arrives. The signal is per process: each replica
// decides for itself.
const (
	// distrustAfter requests whose news a poll found first: one or two
	// can be a callback racing a poll, or lost once.
	distrustAfter = 3
	// distrustQuiet without a genuine callback: callbacks that work bring
	// one well within it whenever requests move.
	distrustQuiet = time.Hour
)

// callbackTrust decides whether callbacks are trusted. It is safe for
// concurrent use; times are on the schedule's clock.
type callbackTrust struct {
	mu          sync.Mutex
	last        time.Time           // of the last genuine callback, or of the start
	unannounced map[string]struct{} // requests whose news a poll found since then (at most distrustAfter)
	distrusted  bool
	show        func(trusted bool) // told of every switch, under mu: a gauge never lags the other way
}

// newCallbackTrust starts trusting at now; show, when not nil, is told of
// every switch.
func newCallbackTrust(now time.Time, show func(trusted bool)) *callbackTrust {
	if show == nil {
		show = func(bool) {}
	}
	return &callbackTrust{last: now, unannounced: make(map[string]struct{}, distrustAfter), show: show}
}

// trusted reports whether callbacks are trusted now; without callbacks
// (nil) there is nothing to distrust.
func (c *callbackTrust) trusted() bool {
	if c == nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.distrusted
}

// polled notes that a poll found news of request key that no callback
// brought. It reports whether callbacks have just stopped being trusted.
func (c *callbackTrust) polled(key string, now time.Time) (switched bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.unannounced) < distrustAfter {
		c.unannounced[key] = struct{}{}
	}
	if c.distrusted || len(c.unannounced) < distrustAfter || now.Sub(c.last) < distrustQuiet {
		return false
	}
	c.distrusted = true
	c.show(false)
	return true
}

// arrived notes a genuine callback. It reports whether callbacks have just
// become trusted again.
func (c *callbackTrust) arrived(now time.Time) (switched bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = now
	clear(c.unannounced)
	switched, c.distrusted = c.distrusted, false
	if switched {
		c.show(true)
	}
	return switched
}

// pollFoundNews notes what a poll of rec learnt: the request's record
// state is now state ("" when unknown). A state beyond the record's is
// news no callback brought, when one was promised (rec.Promised; records
// written before Callback existed say nothing, and do not count). One warning when callbacks stop
// being trusted, never one per request. A state the record's upstream
// state holds already is no news: Visura evasa waits in data_ready for its
// certificate, and the poll that stores it learnt nothing a callback (or
// an earlier poll) had not brought.
func (t *Tracker) pollFoundNews(rec *record.Record, state string) {
	if t.trust == nil || !rec.Promised() || state == "" || rank(state) <= rank(rec.State) {
		return
	}
	if known := stateOf(rec.StatoRichiesta); known != "" && (state == known || rank(state) < rank(known)) {
		return
	}
	if t.trust.polled(record.Key(rec.Tenant, rec.ID), t.schedNow()) {
		t.log.Warn().Int("requests", distrustAfter).Dur("quiet_ms", distrustQuiet).
			Msg("polls found news of requests promised a callback that no callback announced, and no genuine callback arrived meanwhile: " +
				"callbacks look lost (is ISEED_PUBLIC_URL reachable from Openapi?); polls are not stretched until one arrives")
	}
}

// callbackArrived notes a genuine callback.
func (t *Tracker) callbackArrived() {
	if t.trust != nil && t.trust.arrived(t.schedNow()) {
		t.log.Info().Msg("a genuine callback arrived: callbacks are trusted again, polls stretched by ISEED_POLL_CALLBACK_STRETCH")
	}
}
