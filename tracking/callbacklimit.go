package tracking

import (
	"sync"
	"time"
)

// recentSet remembers, for a bounded number of keys, when each was last
// let through.
type recentSet struct {
	mu   sync.Mutex
	max  int
	last map[string]time.Time
}

func newRecentSet(max int) *recentSet {
	return &recentSet{max: max, last: make(map[string]time.Time)}
}

// seen reports whether key was let through less than every ago.
func (r *recentSet) seen(key string, now time.Time, every time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.last[key]
	return ok && now.Sub(t) < every
}

// add lets key through, and notes it, unless it was let through less than
// every ago. When full it forgets entries older than every, or all.
func (r *recentSet) add(key string, now time.Time, every time.Duration) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.last[key]; ok && now.Sub(t) < every {
		return false
	}
	if len(r.last) >= r.max {
		for k, t := range r.last {
			if now.Sub(t) >= every {
				delete(r.last, k)
			}
		}
		if len(r.last) >= r.max {
			clear(r.last)
		}
	}
	r.last[key] = now
	return true
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
