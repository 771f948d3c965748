package console

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed token attempts (the login form, a bearer header) are limited per
// client address (Console.source: behind trusted proxies, the address
// they forwarded): a burst of failBurst, then one every failEvery. The
// limit bounds guessing from each source on this replica (each replica
// counts its own: N replicas give a source N limits); as one source's
// limit is not another's (see failSources for the many-address case), a stranger's failures do not
// lock the operator out.
const (
	failBurst = 5
	failEvery = time.Second
	// failSources bounds the addresses tracked, and the groups; beyond,
	// a new address shares the limit of its group (Console.group: its
	// /24, its IPv6 /48), and beyond the groups, one limit with every
	// other, until tracked ones go idle (a full bucket is forgotten). So a
	// stranger with thousands of addresses in a few networks fills the
	// table and drains only their groups' limits: an operator elsewhere
	// still has a limit of their own.
	failSources = 4096
)

// failures counts failed token attempts per client address.
type failures struct {
	mu       sync.Mutex
	now      func() time.Time
	bySource map[string]*rate.Limiter
	byGroup  map[string]*rate.Limiter // the sources beyond failSources, by group
	overflow *rate.Limiter            // the groups beyond failSources
}

func newFailures(now func() time.Time) *failures {
	return &failures{now: now, bySource: make(map[string]*rate.Limiter), byGroup: make(map[string]*rate.Limiter),
		overflow: newFailLimiter()}
}

func newFailLimiter() *rate.Limiter { return rate.NewLimiter(rate.Every(failEvery), failBurst) }

// try compares a token of src, of group (right says whether it is the
// console's), unless src has no attempt left (allowed false: not
// compared), and counts it when wrong (exhausted: src has no attempt left
// now). The check, the comparison and the count hold one lock: checked
// and counted apart, wrong tokens sent at the same moment from one address
// would all be compared before the first was counted.
func (f *failures) try(src, group string, right func() bool) (allowed, ok, exhausted bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if l := f.limiter(src, group, now, false); l != nil && l.TokensAt(now) < 1 { // nil: never failed, or forgotten
		return false, false, true
	}
	if right() {
		return true, true, false
	}
	l := f.limiter(src, group, now, true)
	l.AllowN(now, 1)
	return true, false, l.TokensAt(now) < 1
}

// limiter returns src's limiter; else, when there is room, a new one if
// create or nil; else the same from the groups for group; else the
// overflow's.
func (f *failures) limiter(src, group string, now time.Time, create bool) *rate.Limiter {
	if l := pick(f.bySource, src, now, create); l != nil || len(f.bySource) < failSources {
		return l
	}
	if l := pick(f.byGroup, group, now, create); l != nil || len(f.byGroup) < failSources {
		return l
	}
	return f.overflow
}

// pick returns m's limiter for key; else, when m has room (after
// forgetting the idle: a full bucket is a fresh one), a new one if create
// or nil; else nil.
func pick(m map[string]*rate.Limiter, key string, now time.Time, create bool) *rate.Limiter {
	if l, ok := m[key]; ok {
		return l
	}
	if len(m) >= failSources {
		for k, l := range m {
			if l.TokensAt(now) >= failBurst {
				delete(m, k)
			}
		}
	}
	if len(m) >= failSources || !create {
		return nil
	}
	l := newFailLimiter()
	m[key] = l
	return l
}
