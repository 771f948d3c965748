package consumer

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestTurnsShareTheWaits: while the budget is congested, half the workers
// are shared among the tenants with submissions waiting (at least one
// each), one worker always stays out of the waits; otherwise every wait
// has room. A job is counted once, a wait of congestedWait makes the
// budget congested for a second, and a leave pokes the holds pass (the
// last of a burst too, at the end of freedEvery).
func TestTurnsShareTheWaits(t *testing.T) {
	var pokes atomic.Int32
	tr := newTurns(8, true, func() { pokes.Add(1) })
	newJob := func(tenant string) *job { return &job{tenant: tenant} }
	long := newJob("z")
	tr.enter(long)
	for range 8 {
		tr.enter(newJob("y"))
	}
	if !tr.room("y") {
		t.Fatal("no room for y's tenth wait while the budget is not congested")
	}
	tr.since[long] = time.Now().Add(-congestedWait)
	if tr.room("y") {
		t.Fatal("room for y's tenth wait while a wait has lasted congestedWait")
	}
	tr.leave(long)
	tr.waiting, tr.total, tr.since = map[string]int{}, 0, map[*job]time.Time{} // the y's: dropped by hand
	if tr.congestedAt.IsZero() {
		t.Fatal("a wait of congestedWait did not make the budget congested")
	}
	wait := func(j *job) *job {
		t.Helper()
		if !tr.room(j.tenant) {
			t.Fatalf("%s's wait refused: waiting %v, total %d", j.tenant, tr.waiting, tr.total)
		}
		tr.enter(j)
		return j
	}
	var a []*job
	for range 4 {
		j := wait(newJob("a"))
		tr.enter(j)
		if tr.total != len(a)+1 {
			t.Fatalf("a job entered twice is counted %d times", tr.total-len(a))
		}
		a = append(a, j)
	}
	if tr.room("a") || tr.free("a") != 0 {
		t.Fatal("a has room for a fifth: over its share of 4 of 8 workers")
	}
	b1 := wait(newJob("b"))
	b2 := wait(newJob("b")) // with a and b waiting each has 2 of 4
	if tr.room("b") {
		t.Fatal("b has room for a third: with a and b waiting each has 2 of 4")
	}
	c := wait(newJob("c")) // at least one each
	if tr.room("d") || tr.free("d") != 0 {
		t.Fatal("an eighth wait has room: one of the 8 workers stays out")
	}
	forced := newJob("a")
	tr.enter(forced) // a released one waits whatever the share says
	tr.leave(forced)
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
	if got := tr.free("d"); got != 1 {
		t.Fatalf("d may have %d waiting with b and c at 3 of 4; want 1 (4 shared by three)", got)
	}
	tr.leave(b1)
	tr.leave(b2)
	tr.leave(c)
	if tr.total != 0 || len(tr.waiting) != 0 {
		t.Fatalf("all left: total %d, %v", tr.total, tr.waiting)
	}
	tr.congestedAt = time.Now().Add(-time.Second)
	for range 8 {
		tr.enter(newJob("a"))
	}
	if !tr.room("a") {
		t.Error("no room a second after the budget was last congested")
	}
	deadline := time.Now().Add(5 * time.Second)
	for pokes.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := pokes.Load(); got != 2 {
		t.Errorf("pokes for a burst of leaves: %d, want 2 (one at once, one at the end of freedEvery)", got)
	}

	var off *turns
	offj := newJob("a")
	off.enter(offj)
	off.leave(offj)
	idle := newTurns(8, false, nil)
	for range 20 {
		idle.enter(newJob("a"))
		if !idle.room("a") {
			t.Fatal("turns that are off refused a wait")
		}
	}
	if !off.room("a") || idle.total != 0 {
		t.Error("turns that are off counted")
	}
}
