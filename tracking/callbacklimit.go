package tracking

import (
	"sync"
	"time"
)

// recentSet remembers, for a bounded number of keys, when each was last
// let through, and whether the refresh it let through failed.
type recentSet struct {
	mu   sync.Mutex
	max  int
	last map[string]mark
}

// mark is when a key was let through, and whether its refresh failed, or
// is still under way.
type mark struct {
	at      time.Time
	failed  bool
	pending bool
}

func newRecentSet(max int) *recentSet {
	return &recentSet{max: max, last: make(map[string]mark)}
}

// seen reports whether key was let through less than every ago, and how.
func (r *recentSet) seen(key string, now time.Time, every time.Duration) (mark, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.last[key]
	return m, ok && now.Sub(m.at) < every
}

// add lets key through, and notes it, unless it was let through less than
// every ago (then it reports how, and seen), or the set is full of keys let
// through less than every ago (then it reports full: forgetting any of them
// would let it through again within every, and so would not noting key).
// When full it forgets entries older than every first.
func (r *recentSet) add(key string, now time.Time, every time.Duration) (m mark, seen, full bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.last[key]; ok && now.Sub(m.at) < every {
		return m, true, false
	}
	if len(r.last) >= r.max {
		for k, m := range r.last {
			if now.Sub(m.at) >= every {
				delete(r.last, k)
			}
		}
		if len(r.last) >= r.max {
			return mark{}, false, true
		}
	}
	r.last[key] = mark{at: now, pending: true}
	return mark{}, false, false
}

// done notes that the refresh key was last let through for is over.
func (r *recentSet) done(key string) { r.end(key, false) }

// fail notes that the refresh key was last let through for failed.
func (r *recentSet) fail(key string) { r.end(key, true) }

func (r *recentSet) end(key string, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.last[key]; ok {
		m.pending, m.failed = false, failed
		r.last[key] = m
	}
}

// forget forgets that key was let through: its refresh did not happen
// (the request was not tracked yet), and the next callback with its news
// is let through.
func (r *recentSet) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.last, key)
}

// keySet is a set of keys held by whoever added them, until removed. It
// holds no more keys than there are callers between add and remove.
type keySet struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

func newKeySet() *keySet { return &keySet{keys: make(map[string]struct{})} }

// add adds key, unless it is there already.
func (s *keySet) add(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[key]; ok {
		return false
	}
	s.keys[key] = struct{}{}
	return true
}

func (s *keySet) remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
}

// recentMax is how many submissions' news the callback endpoint remembers
// within MinInterval.
const recentMax = 4096
