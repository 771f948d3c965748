package ratelimit

import "time"

// serverClock estimates the NATS server's clock, which stamps every KV
// revision, from the local clock, without ever running ahead of it. Tokens
// are credited up to the estimate, so a replica can only credit time that
// has passed on the server, whatever its own clock says.
//
// Local readings are the first reading's wall time plus the time elapsed
// since, which Go measures on the monotonic clock when the readings carry
// one (time.Now's do): a wall clock that is stepped does not move them.
//
// Every read of an entry stamped T that returned at local time r proves
// server − local ≥ T − r (the entry existed before the answer); the
// estimate is local + the largest such bound. Every write sent at local
// time s proves, for any entry at or after its revision, T ≥ s + (server −
// local), that is server − local ≤ T − s. When the two bounds cross, the
// local clock has jumped forward since the lower bound was taken, and the
// estimate restarts from the latest read. A wrong estimate can therefore
// mislead at most the one write made between the jump and the next read.
type serverClock struct {
	now   func() time.Time
	epoch time.Time

	offset int64 // lower bound of server − local, in ns
	known  bool

	ownRev uint64 // revision of our last write, 0 before any
	ownAt  int64  // local reading just before it was sent
}

func newServerClock(now func() time.Time) serverClock {
	return serverClock{now: now, epoch: now()}
}

// local returns the local reading in Unix ns.
func (c *serverClock) local() int64 {
	return c.epoch.UnixNano() + int64(c.now().Sub(c.epoch))
}

// observe records an entry of revision rev stamped by the server at stamp
// (Unix ns), read with an answer that arrived at local reading at. It
// reports whether the estimate had to restart.
func (c *serverClock) observe(stamp int64, rev uint64, at int64) bool {
	lower := stamp - at
	if !c.known || lower > c.offset {
		c.offset, c.known = lower, true
	}
	if c.ownRev != 0 && rev >= c.ownRev && c.offset > stamp-c.ownAt {
		c.offset = lower
		return true
	}
	return false
}

// wrote records our write of revision rev, sent at local reading at.
func (c *serverClock) wrote(rev uint64, at int64) {
	c.ownRev, c.ownAt = rev, at
}

// estimate returns the server time, in Unix ns, at local reading at: never
// later than the server's clock unless the local clock jumped forward since
// the last read.
func (c *serverClock) estimate(at int64) int64 {
	return at + c.offset
}
