package console

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// revokedPrefix is the key space of the logged-out sessions in the keys
// bucket: revokedPrefix+<session id>, its value the session's expiry in
// Unix seconds. The keys bucket fits: iseed's user already writes it, it
// keeps one value a key, and nothing else of iseed lists its keys.
const revokedPrefix = "console.revoked."

const (
	// storeTimeout bounds how long a logout waits for NATS to store its
	// revocation (and each later try).
	storeTimeout = 5 * time.Second
	// retryEvery is how often a revocation NATS did not take is tried
	// again, and a watch that could not start is started again.
	retryEvery = time.Second
	// sweepEvery is how often the revocations of expired sessions are
	// removed from the bucket: the bucket has no per-key TTL.
	sweepEvery = time.Minute
	// sweepGrace is how long after its session's expiry a revocation
	// stays: each replica reads its own clock, both to refuse an expired
	// session and to sweep, and a replica whose clock runs ahead must not
	// remove a logout while another's still takes its session as valid (a
	// replica started then would not know it was logged out).
	sweepGrace = 15 * time.Minute
)

// revocations are the sessions logged out on any replica. A logout stores
// its session's id in the keys bucket; every replica's Run watches those
// keys into memory, where each request's check looks (never NATS). The
// logging-out replica knows at once, the others as soon as the watch
// delivers (a few milliseconds). A revocation NATS does not take is kept
// here and tried again until it is stored or its session expires; the
// logout says so. Until the watch has delivered what the bucket holds, no
// session is accepted: a replica that just started does not know yet
// which were logged out.
//
// A keys bucket deleted and made anew numbers its entries from 1 again,
// and the watch goes on after the old bucket's last revision: it would
// never deliver the new bucket's first logouts. Run therefore checks every
// bucket.Recheck that the bucket is the one it watches; when it is not, it
// keeps the logouts it knew (they are still refused here), accepts no
// session until a new watch has read the new bucket, and stores those it
// knew again, so that every replica, and one started later, refuses them.
type revocations struct {
	kv      jetstream.KeyValue  // the keys bucket; nil: this process only (unit tests)
	js      jetstream.JetStream // purges the expired revocations
	now     func() time.Time
	log     zerolog.Logger
	recheck time.Duration // how often run checks the bucket; zero: bucket.Recheck

	mu sync.Mutex
	// ids are the logged-out sessions known here, with their expiry: only
	// a logged-in operator, or iseed's NATS user, adds one. Each goes once
	// expired and swept.
	ids map[string]int64
	// pending are the revocations made here that NATS has not taken yet.
	pending map[string]int64
	synced  bool          // the watch has delivered every stored revocation once
	readyc  chan struct{} // closed when synced turns true
}

func newRevocations(kv jetstream.KeyValue, js jetstream.JetStream, now func() time.Time, log zerolog.Logger) *revocations {
	v := &revocations{kv: kv, js: js, now: now, log: log, ids: make(map[string]int64),
		pending: make(map[string]int64), readyc: make(chan struct{})}
	if kv == nil {
		v.markSynced()
	}
	return v
}

// markSynced notes that the stored revocations are known; v.mu is held
// or v not shared yet.
func (v *revocations) markSynced() {
	if v.synced {
		return
	}
	v.synced = true
	select {
	case <-v.readyc: // synced before the keys bucket was made anew
	default:
		close(v.readyc)
	}
}

// ready reports whether the stored revocations are known here.
func (v *revocations) ready() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.synced
}

// has reports whether session id was logged out.
func (v *revocations) has(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.ids[id]
	return ok
}

// revoke ends session id, which expires at exp (Unix seconds), here at
// once and on every replica once NATS stores it. An error means NATS did
// not: the session stays valid on the other replicas until a later try
// stores it or it expires.
func (v *revocations) revoke(ctx context.Context, id string, exp int64) error {
	v.mu.Lock()
	v.ids[id] = exp
	v.mu.Unlock()
	if v.kv == nil {
		return nil
	}
	if err := v.store(ctx, id, exp); err != nil {
		v.mu.Lock()
		v.pending[id] = exp
		v.mu.Unlock()
		return fmt.Errorf("console: store the logout in %s: %w", v.kv.Bucket(), err)
	}
	return nil
}

func (v *revocations) store(ctx context.Context, id string, exp int64) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	_, err := v.kv.Put(ctx, revokedPrefix+id, []byte(strconv.FormatInt(exp, 10)))
	return err
}

// run keeps ids current with the bucket, stores the pending revocations
// and sweeps the expired ones, until ctx is done.
func (v *revocations) run(ctx context.Context) error {
	if v.kv == nil { // this process only: nothing to watch or store
		<-ctx.Done()
		return nil
	}
	retry, sweep := time.NewTicker(retryEvery), time.NewTicker(sweepEvery)
	defer retry.Stop()
	defer sweep.Stop()
	check := time.NewTicker(cmp.Or(v.recheck, bucket.Recheck))
	defer check.Stop()
	var lost chan nats.Status // the connection lost: see below
	if v.js != nil {
		lost = v.js.Conn().StatusChanged(nats.RECONNECTING, nats.DISCONNECTED)
		defer v.js.Conn().RemoveStatusListener(lost)
	}
	var created time.Time // of the bucket the last watch began on
	// The watch's consumer can also be lost with the connection up (the
	// cluster node that held it failed), and nats.go makes it again only
	// when it has missed the server's heartbeats, 10 to 20 s later: the
	// logouts stored meanwhile on other replicas were accepted here. So
	// each check also reads the sequence of the last logout stored; one
	// stored since the watch began and still not delivered bucket.KeepUp
	// later, with nothing delivered meanwhile, means the watch is lost
	// (lag), and the retry tick watches anew.
	var lag *bucket.Lag
	var keys jetstream.Stream // the bucket's stream, for lastLogout
	var w jetstream.KeyWatcher
	failing := false
	watch := func() {
		began, _ := v.lastLogout(ctx, &keys) // before the watch: what is stored after it is waited for
		lag = bucket.NewLag(began, bucket.KeepUp)
		w, failing = v.watch(ctx, failing, &created)
	}
	watch()
	defer func() {
		if w != nil {
			_ = w.Stop()
		}
	}()
	for {
		var updates <-chan jetstream.KeyValueEntry
		if w != nil {
			updates = w.Updates()
		}
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-updates:
			if !ok { // the subscription closed: watch again at the next tick
				w = nil
				continue
			}
			if e != nil {
				lag.Delivered(e.Revision())
			}
			v.learn(e)
		case <-lost:
			// The watch's consumer may be gone with the server (a
			// restart), and nats.go's watch makes it again only when it
			// misses the server's heartbeats, up to 20 s after NATS is
			// back: the logouts stored meanwhile on other replicas were
			// accepted here. The retry tick watches anew, from every
			// stored logout, once NATS is back.
			if w != nil {
				_ = w.Stop()
				w = nil
			}
		case <-retry.C:
			if w == nil {
				watch()
			}
			v.storePending(ctx)
		case <-check.C:
			if w == nil { // the retry tick watches again
				continue
			}
			if c, err := bucket.Created(ctx, v.kv); err == nil && !c.Equal(created) {
				_ = w.Stop()
				v.anew()
				created = c
				watch()
				continue
			}
			if lag.C() == nil {
				if last, err := v.lastLogout(ctx, &keys); err == nil {
					lag.Stored(last)
				}
			}
		case <-lag.C():
			unread := 0
			if w != nil {
				unread = len(w.Updates())
			}
			if err := lag.Lost(unread); err != nil && w != nil {
				v.log.Warn().Err(err).Msg("console: the logouts watch delivered nothing of a logout stored since it began: its consumer is lost; watching anew")
				_ = w.Stop()
				w = nil // the retry tick watches anew
			}
		case <-sweep.C:
			v.sweep(ctx)
		}
	}
}

// lastLogout returns the stream sequence of the last logout stored in the
// keys bucket (0: none), through *keys, the bucket's stream, read once.
func (v *revocations) lastLogout(ctx context.Context, keys *jetstream.Stream) (uint64, error) {
	if v.js == nil {
		return 0, errors.New("console: no JetStream to read the last logout with")
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if *keys == nil {
		st, err := v.js.Stream(ctx, "KV_"+v.kv.Bucket())
		if err != nil {
			return 0, err
		}
		*keys = st
	}
	m, err := (*keys).GetLastMsgForSubject(ctx, "$KV."+v.kv.Bucket()+"."+revokedPrefix+"*")
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	}
	return m.Sequence, nil
}

// watch starts watching the revocations; nil and failing when it cannot.
// A failure is logged when the previous try had not failed (failed), a
// recovery when it had. It sets *created to when the bucket watched was
// created; when that bucket is not the one watched before, the old one's
// logouts were lost with it: see anew.
func (v *revocations) watch(ctx context.Context, failed bool, created *time.Time) (w jetstream.KeyWatcher, failing bool) {
	c, err := bucket.Created(ctx, v.kv)
	if err == nil {
		w, err = v.kv.Watch(ctx, revokedPrefix+"*", jetstream.IgnoreDeletes())
	}
	switch {
	case err != nil && !failed && ctx.Err() == nil:
		v.log.Warn().Err(err).Msg("console: cannot watch the logged-out sessions; trying again every second (meanwhile this replica misses the logouts of the others, and until it has read them once it accepts no session)")
	case err == nil && failed:
		v.log.Info().Msg("console: watching the logged-out sessions again")
	}
	if err != nil {
		return nil, true
	}
	if !created.IsZero() && !c.Equal(*created) {
		v.anew()
	}
	*created = c
	return w, false
}

// anew notes that the keys bucket was made anew: the watch just started
// has not delivered its logouts yet, so no session is accepted until it
// has; the logouts known here, gone with the old bucket, stay refused here
// and are stored again.
func (v *revocations) anew() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.synced = false // readyc stays closed: it marks the first read only
	now := v.now().Unix()
	for id, exp := range v.ids {
		if now < exp {
			v.pending[id] = exp
		}
	}
	v.log.Warn().Int("logouts", len(v.pending)).Msg("console: the keys bucket was made anew: no session is accepted until this replica has read it, and the logouts it knew are stored there again")
}

// learn notes one stored revocation; nil marks the end of those stored
// before the watch began.
func (v *revocations) learn(e jetstream.KeyValueEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e == nil {
		v.markSynced()
		return
	}
	id, ok := strings.CutPrefix(e.Key(), revokedPrefix)
	exp, err := strconv.ParseInt(string(e.Value()), 10, 64)
	if ok && err == nil {
		v.ids[id] = exp
	}
}

// storePending tries again the revocations NATS did not take, and drops
// those whose session expired meanwhile.
func (v *revocations) storePending(ctx context.Context) {
	v.mu.Lock()
	pending := make(map[string]int64, len(v.pending))
	for id, exp := range v.pending {
		pending[id] = exp
	}
	v.mu.Unlock()
	now := v.now().Unix()
	for id, exp := range pending {
		if now < exp {
			if err := v.store(ctx, id, exp); err != nil {
				return // NATS still does not take it: the next tick tries again
			}
			v.log.Info().Msg("console: a logout not in NATS before is stored now: every replica refuses its session")
		}
		v.mu.Lock()
		delete(v.pending, id)
		v.mu.Unlock()
	}
}

// sweep removes the revocations of sessions expired for sweepGrace from
// memory and from the bucket. It purges the key's message from the
// stream: a KV delete or purge would leave a marker behind for every
// logout, forever. Each replica sweeps what it knows; a second purge of
// one key does nothing.
func (v *revocations) sweep(ctx context.Context) {
	now := v.now().Add(-sweepGrace).Unix()
	var expired []string
	v.mu.Lock()
	for id, exp := range v.ids {
		if now >= exp {
			expired = append(expired, id)
		}
	}
	v.mu.Unlock()
	if len(expired) == 0 || v.kv == nil {
		v.forget(expired)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	st, err := v.js.Stream(ctx, "KV_"+v.kv.Bucket())
	if err != nil {
		v.log.Warn().Err(err).Msg("console: cannot sweep the expired logouts; trying again in a minute")
		return
	}
	var done []string
	for _, id := range expired {
		subject := "$KV." + v.kv.Bucket() + "." + revokedPrefix + id
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
			v.log.Warn().Err(err).Msg("console: cannot sweep the expired logouts; trying again in a minute")
			break
		}
		done = append(done, id)
	}
	v.forget(done)
}

// forget drops the revocations of ids from memory.
func (v *revocations) forget(ids []string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, id := range ids {
		delete(v.ids, id)
		delete(v.pending, id)
	}
}
