package consumer

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestTurnsShareTheWaits: half the workers are shared among the tenants
// with submissions waiting (at least one each), one worker always stays
// out of the waits, a forced entry counts over the share, a job is
// counted once, and a leave pokes the holds pass (the last of a burst
// too, at the end of freedEvery).
func TestTurnsShareTheWaits(t *testing.T) {
	var pokes atomic.Int32
	tr := newTurns(8, true, func() { pokes.Add(1) })
	newJob := func(tenant string) *job { return &job{tenant: tenant} }
	var a []*job
	for range 4 {
		j := newJob("a")
		if !tr.enter(j, false) {
			t.Fatalf("a's %d-th wait refused; a alone shares 4 of 8 workers", len(a)+1)
		}
		if !tr.enter(j, false) || tr.total != len(a)+1 {
			t.Fatalf("a job entered twice is counted %d times", tr.total-len(a))
		}
		a = append(a, j)
	}
	if tr.enter(newJob("a"), false) || tr.room("a") {
		t.Fatal("a's fifth wait let in: over its share of 4")
	}
	b1 := newJob("b")
	if !tr.room("b") || !tr.enter(b1, false) {
		t.Fatal("b's first wait refused: a newcomer has room")
	}
	b2 := newJob("b")
	if !tr.enter(b2, false) || tr.room("b") {
		t.Fatal("b's second wait: with a and b waiting each has 2 of 4")
	}
	c := newJob("c")
	if !tr.enter(c, false) {
		t.Fatal("c's first wait refused: at least one each")
	}
	forced := newJob("a")
	if !tr.enter(forced, true) || tr.total != 8 {
		t.Fatalf("a forced entry: total %d, want 8", tr.total)
	}
	tr.leave(forced)
	if tr.enter(newJob("d"), false) || tr.room("d") {
		t.Fatal("an eighth wait let in: one of the 8 workers stays out")
	}

	tr.leave(forced) // once
	if tr.total != 7 || tr.waiting["a"] != 4 {
		t.Fatalf("after a leave: total %d, a waiting %d; want 7 and 4", tr.total, tr.waiting["a"])
	}
	for _, j := range a {
		tr.leave(j)
	}
	if _, ok := tr.waiting["a"]; ok {
		t.Fatal("a tenant with none waiting is still counted among those sharing")
	}
	tr.leave(b1)
	tr.leave(b2)
	tr.leave(c)
	if tr.total != 0 || len(tr.waiting) != 0 {
		t.Fatalf("all left: total %d, %v", tr.total, tr.waiting)
	}
	deadline := time.Now().Add(5 * time.Second)
	for pokes.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := pokes.Load(); got != 2 {
		t.Errorf("pokes for a burst of leaves: %d, want 2 (one at once, one at the end of freedEvery)", got)
	}

	var off *turns
	if !off.enter(newJob("a"), false) || !off.room("a") {
		t.Error("a nil turns refused a wait")
	}
	offj := newJob("a")
	idle := newTurns(8, false, nil)
	for range 20 {
		if !idle.enter(offj, false) {
			t.Fatal("turns that are off refused a wait")
		}
	}
	idle.leave(offj)
}
