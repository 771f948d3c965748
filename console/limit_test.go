package console

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// allowed reports whether src, of group, may try a token now (a right one:
// nothing is counted).
func (f *failures) allowed(src, group string) bool {
	allowed, _, _ := f.try(src, group, func() bool { return true })
	return allowed
}

// fail counts a wrong token of src, of group, and reports whether src has
// no attempt left.
func (f *failures) fail(src, group string) (exhausted bool) {
	_, _, exhausted = f.try(src, group, func() bool { return false })
	return exhausted
}

// TestConcurrentWrongTokensAreCounted: wrong tokens sent at the same moment
// from one address are compared at most failBurst times. Checked and
// counted apart, each was compared before any was counted: the comparison
// below waits for the others to arrive, as a many-core host lets them.
func TestConcurrentWrongTokensAreCounted(t *testing.T) {
	const n = 20
	f := newFailures(time.Now)
	var inside, compared atomic.Int64
	wrong := func() bool {
		compared.Add(1)
		inside.Add(1)
		defer inside.Add(-1)
		for deadline := time.Now().Add(20 * time.Millisecond); inside.Load() < n && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return false
	}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { f.try("192.0.2.1", "192.0.2.0/24", wrong) })
	}
	wg.Wait()
	if got := compared.Load(); got > failBurst {
		t.Errorf("%d wrong tokens sent at once from one address: %d compared, want at most %d", n, got, failBurst)
	}
}
