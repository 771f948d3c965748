package consumer

import (
	"errors"
	"sync"
	"time"
)

// Fair shares of the upstream budget.
//
// Every replica's workers take submissions from one durable consumer in the
// order the stream holds them. When the upstream budget (ISEED_UPSTREAM_RPS)
// keeps them waiting for tokens, a tenant that publishes thousands at once
// would take every worker, and every other tenant's submissions would wait
// in the stream behind its whole batch (hours at 10 calls a second). So,
// while the budget can make a POST wait, a tenant may have only its share
// of this replica's workers waiting for a token; a submission of a tenant
// over its share is held (code fair_share), its message acknowledged, and
// the workers left over go on through the stream, so that the submissions
// behind the batch, other tenants', are reached at the speed of a hold, not
// of the budget. The holds pass (holds.go) sends a tenant's held ones again
// in order as its share has room. A share is half the workers divided among
// the tenants with submissions waiting here (at least one each), and at
// least one worker stays out of the waits, so that the stream is always
// read on.
//
// A submission counts from the start of its wait for a token to its end
// (the room is read before, in reserve: workers that find room at once may
// all wait, and the share is kept to within a few). Shares apply only
// while the budget is congested: while a wait has lasted congestedWait,
// and for a second after such a wait ended. A budget with tokens to spare hands them
// out within moments, and nothing is held; a tenant's batch that meets a
// budget not congested yet has every worker's wait, a token each, before it
// steps aside.
//
// The count is per replica and in memory: a replica decides from what its
// own workers do, with no coordinator; a submission released by one
// replica's pass and delivered to another is not held again. With the
// budget lifted (ISEED_UPSTREAM_RPS=0: a limiter that never waits), no
// holds bucket (spending caps off) or a tenant quota
// (ISEED_TENANT_MAX_SUBMISSIONS, which would count every release) nothing
// is counted and nothing held.

// errTurn holds a submission whose tenant has its share of this replica's
// workers waiting for the upstream budget.
var errTurn = errors.New("its tenant has its share of the upstream budget's queue already: other tenants' submissions go meanwhile, and it goes in its turn")

// turns counts the submissions of this replica's workers that wait for a
// token of the upstream budget, per tenant. Its zero value, or a nil one,
// is off: every submission has room.
type turns struct {
	on      bool
	half    int // half the workers: what the tenants share
	limit   int // the most that may wait at once: one worker always stays out
	mu      sync.Mutex
	waiting map[string]int
	total   int
	since   map[*job]time.Time // the counted waits: when each began
	// freed is called (outside mu) when a submission stops waiting, at
	// most once per freedEvery: the holds pass looks for a hold that has
	// room now.
	freed     func()
	lastFreed time.Time
	later     bool // a poke is due at the end of the current freedEvery
	// congestedAt is when a wait last ended that lasted congestedWait or
	// more: for a second after it the budget counts as congested, as it
	// does while a wait has lasted that long (a budget paused by the
	// upstream's Retry-After ends none).
	congestedAt time.Time
}

// congestedWait is the shortest wait for a token that shows the budget
// congested. Shorter ones (a budget of 1,000 calls a second hands a token
// out every millisecond) are no queue to step aside from: a submission
// held then, released and sent again costs more than the wait.
const congestedWait = 50 * time.Millisecond

// freedEvery bounds how often a token handed out pokes the holds pass: at
// 10 calls a second each would start a pass over every tenant's holds. One
// within it pokes at its end instead: the last of a burst is never lost.
const freedEvery = 100 * time.Millisecond

func newTurns(workers int, on bool, freed func()) *turns {
	return &turns{on: on, half: max(1, workers/2), limit: max(1, workers-1), waiting: map[string]int{}, since: map[*job]time.Time{}, freed: freed}
}

// share is how many of tenant's submissions may wait at once; mu held.
func (t *turns) share(tenant string) int {
	active := len(t.waiting)
	if t.waiting[tenant] == 0 {
		active++
	}
	return max(1, t.half/active)
}

// room reports whether one more of tenant's submissions may wait.
func (t *turns) room(tenant string) bool {
	if t == nil || !t.on {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.roomLocked(tenant)
}

// free is how many more of tenant's submissions may wait (0 when off:
// nothing is counted).
func (t *turns) free(tenant string) int {
	if t == nil || !t.on {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return max(0, min(t.share(tenant)-t.waiting[tenant], t.limit-t.total))
}

func (t *turns) roomLocked(tenant string) bool {
	return !t.congested() || t.waiting[tenant] < t.share(tenant) && t.total < t.limit
}

// congested reports whether the budget keeps submissions waiting; mu held.
func (t *turns) congested() bool {
	now := time.Now()
	if !t.congestedAt.IsZero() && now.Sub(t.congestedAt) < time.Second {
		return true
	}
	for _, from := range t.since { // at most one per worker
		if now.Sub(from) >= congestedWait {
			return true
		}
	}
	return false
}

// enter counts j as waiting for its token, if it is not counted already.
func (t *turns) enter(j *job) {
	if t == nil || !t.on {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, counted := t.since[j]; counted {
		return
	}
	t.waiting[j.tenant]++
	t.total++
	t.since[j] = time.Now()
}

// leave stops counting j: it has its token, or its wait ended otherwise.
func (t *turns) leave(j *job) {
	if t == nil || !t.on {
		return
	}
	t.mu.Lock()
	from, counted := t.since[j]
	if !counted {
		t.mu.Unlock()
		return
	}
	if now := time.Now(); now.Sub(from) >= congestedWait {
		t.congestedAt = now
	}
	delete(t.since, j)
	if t.waiting[j.tenant]--; t.waiting[j.tenant] <= 0 {
		delete(t.waiting, j.tenant)
	}
	t.total--
	t.mu.Unlock()
	t.poke()
}

// poke calls freed now, or at the end of the current freedEvery.
func (t *turns) poke() {
	if t == nil || !t.on || t.freed == nil {
		return
	}
	t.mu.Lock()
	now := time.Now()
	wait := freedEvery - now.Sub(t.lastFreed)
	switch {
	case wait <= 0:
		t.lastFreed = now
		t.mu.Unlock()
		t.freed()
		return
	case !t.later:
		t.later = true
		time.AfterFunc(wait, func() {
			t.mu.Lock()
			t.later, t.lastFreed = false, time.Now()
			t.mu.Unlock()
			t.freed()
		})
	}
	t.mu.Unlock()
}
