package sim

import (
	"encoding/binary"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"
)

// idKey is a request id in binary: 4 bytes of unix seconds, 3 bytes drawn from
// the seed and a 5-byte counter, like a MongoDB ObjectId.
type idKey [12]byte

// parseID decodes a 24-hex-digit id; ok is false for anything else.
func parseID(s string) (k idKey, ok bool) {
	if len(s) != 2*len(k) {
		return k, false
	}
	_, err := hex.Decode(k[:], []byte(s))
	return k, err == nil
}

// idGen issues request ids and creation sequence numbers.
type idGen struct {
	machine [3]byte
	counter atomic.Uint64
}

func newIDGen(seed int64) *idGen {
	g := &idGen{}
	m := splitmix(uint64(seed))
	g.machine = [3]byte{byte(m >> 16), byte(m >> 8), byte(m)}
	return g
}

// next returns a fresh id, its hex form and its sequence number (from 1).
func (g *idGen) next(now time.Time) (idKey, string, uint64) {
	n := g.counter.Add(1)
	var k idKey
	binary.BigEndian.PutUint32(k[0:4], uint32(now.Unix()))
	copy(k[4:7], g.machine[:])
	k[7], k[8], k[9], k[10], k[11] = byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return k, hex.EncodeToString(k[:]), n
}

const numShards = 64

// store keeps every request: sharded by id for lookups, and in one
// append-only list for GET /richiesta. Records are never removed.
type store struct {
	shards [numShards]shard
	mu     sync.RWMutex
	all    []*record
}

type shard struct {
	mu sync.RWMutex
	m  map[idKey]*record
}

func newStore() *store {
	st := &store{}
	for i := range st.shards {
		st.shards[i].m = make(map[idKey]*record)
	}
	return st
}

func (st *store) shardOf(k idKey) *shard { return &st.shards[k[11]%numShards] }

func (st *store) add(r *record) {
	sh := st.shardOf(r.key)
	sh.mu.Lock()
	sh.m[r.key] = r
	sh.mu.Unlock()
	st.mu.Lock()
	st.all = append(st.all, r)
	st.mu.Unlock()
}

func (st *store) get(k idKey) *record {
	sh := st.shardOf(k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.m[k]
}

// lookup finds a request by its hex id.
func (st *store) lookup(id string) *record {
	k, ok := parseID(id)
	if !ok {
		return nil
	}
	return st.get(k)
}

// snapshot returns the requests created so far, oldest first. The slice is
// shared: elements below its length are never changed, so it needs no copy.
func (st *store) snapshot() []*record {
	st.mu.RLock()
	defer st.mu.RUnlock()
	return st.all[:len(st.all):len(st.all)]
}

// splitmix is SplitMix64's finalizer: a fast, well-mixed hash of x.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// unitFloat maps x to [0, 1).
func unitFloat(x uint64) float64 { return float64(x>>11) / (1 << 53) }
