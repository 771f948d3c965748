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
