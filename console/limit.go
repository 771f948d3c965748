package console

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed token attempts (the login form, a bearer header) are limited per
// client address (Console.source: behind trusted proxies, the address
// they forwarded): a burst of failBurst, then one every failEvery. The
// limit bounds guessing from each source; as it is not shared, a
// stranger's failures never lock the operator out.
const (
	failBurst = 5
	failEvery = time.Second
	// failSources bounds the addresses tracked; beyond, new ones share one
	// limit until tracked ones go idle (a full bucket is forgotten).
	failSources = 4096
)

// failures counts failed token attempts per client address.
type failures struct {
	mu       sync.Mutex
	now      func() time.Time
	bySource map[string]*rate.Limiter
	overflow *rate.Limiter // the sources beyond failSources
}

func newFailures(now func() time.Time) *failures {
	return &failures{now: now, bySource: make(map[string]*rate.Limiter), overflow: newFailLimiter()}
}

func newFailLimiter() *rate.Limiter { return rate.NewLimiter(rate.Every(failEvery), failBurst) }

// allowed reports whether src may try a token now.
func (f *failures) allowed(src string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	l := f.limiter(src, now, false)
	return l == nil || l.TokensAt(now) >= 1 // nil: never failed, or forgotten
}

// fail counts a failed attempt of src and reports whether src has no
// attempt left.
func (f *failures) fail(src string) (exhausted bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	l := f.limiter(src, now, true)
	l.AllowN(now, 1)
	return l.TokensAt(now) < 1
}

// limiter returns src's limiter; else, when there is room (after
// forgetting the idle: a full bucket is a fresh one), a new one if create
// or nil; else the overflow's.
func (f *failures) limiter(src string, now time.Time, create bool) *rate.Limiter {
	if l, ok := f.bySource[src]; ok {
		return l
	}
	if len(f.bySource) >= failSources {
		for s, l := range f.bySource {
			if l.TokensAt(now) >= failBurst {
				delete(f.bySource, s)
			}
		}
	}
	switch {
	case len(f.bySource) >= failSources:
		return f.overflow
	case !create:
		return nil
	}
	l := newFailLimiter()
	f.bySource[src] = l
	return l
}
