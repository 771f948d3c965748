package consumer

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/workpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Held submissions wait in the holds bucket under
// "<tenant>.<held since, unix nanoseconds, 20 digits>.<id>", so that a
// tenant's keys sort oldest first; the value names the message to send
// again. Their messages are acknowledged: a hold costs no deliveries and
// lasts until the caps allow the submission or it passes ISEED_MAX_AGE.

// holdEntry is the value of a holds key.
type holdEntry struct {
	Seq     uint64 `json:"seq"`     // the submission's message in the submissions stream
	Subject string `json:"subject"` // where it was published
	// Cancelled is set by CancelUnsent when it could not send the message
	// again for a delivery to fail the submission (gone from the stream,
	// refused by it): the holds pass fails it, also while the tenant's
	// older holds must stay where they are.
	Cancelled bool `json:"cancelled,omitempty"`
}

// holdIndex is the holds bucket and, while RunHolds runs, a view of it.
type holdIndex struct {
	kv        jetstream.KeyValue // nil: no holds (no caps configured)
	recheck   time.Duration      // how often the watch checks the bucket; zero: bucket.Recheck (tests set it)
	mu        sync.Mutex
	byTenant  map[string][]string // tenant → held keys, sorted
	cancelled map[string]bool     // held keys whose entry says Cancelled
}

func holdKey(tenant, id string, since time.Time) string {
	return fmt.Sprintf("%s.%020d.%s", tenant, since.UnixNano(), id)
}

// parseHoldKey splits a holds key.
func parseHoldKey(key string) (tenant, id string, ok bool) {
	tenant, rest, ok1 := strings.Cut(key, ".")
	_, id, ok2 := strings.Cut(rest, ".")
	return tenant, id, ok1 && ok2
}

// waiting reports whether tenant has held submissions other than id.
func (h *holdIndex) waiting(tenant, id string) bool {
	if h == nil || h.kv == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range h.byTenant[tenant] {
		if _, kid, _ := parseHoldKey(k); kid != id {
			return true
		}
	}
	return false
}

func (h *holdIndex) put(ctx context.Context, tenant, id string, since time.Time, seq uint64, subject string) error {
	if h == nil || h.kv == nil {
		return errors.New("hold: no holds bucket")
	}
	v, _ := json.Marshal(holdEntry{Seq: seq, Subject: subject})
	key := holdKey(tenant, id, since)
	if _, err := h.kv.Put(ctx, key, v); err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	h.note(tenant, key)
	return nil
}

// note adds a key this replica has just put to the view, before its watch
// delivers it: the tenant's next submission delivered here meanwhile would
// not see it held, and go first.
func (h *holdIndex) note(tenant, key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setKey(tenant, key, true)
}

// drop removes a key from the view that the bucket no longer has (a pass
// read it gone): noted here while its watch delivered its removal first,
// it would stay, and hold the tenant's next submissions behind it.
func (h *holdIndex) drop(tenant, key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setKey(tenant, key, false)
}

// setKey adds key to tenant's sorted keys in the view, or removes it;
// mu held.
func (h *holdIndex) setKey(tenant, key string, present bool) {
	if h.byTenant == nil {
		h.byTenant = map[string][]string{}
	}
	keys := h.byTenant[tenant]
	i, found := slices.BinarySearch(keys, key)
	switch {
	case present && !found:
		keys = slices.Insert(keys, i, key)
	case !present && found:
		keys = slices.Delete(keys, i, i+1)
	}
	if len(keys) == 0 {
		delete(h.byTenant, tenant)
	} else {
		h.byTenant[tenant] = keys
	}
}

// seen updates the view with one change of the bucket.
func (h *holdIndex) seen(e jetstream.KeyValueEntry) {
	tenant, _, ok := parseHoldKey(e.Key())
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.setKey(tenant, e.Key(), e.Operation() == jetstream.KeyValuePut)
	var he holdEntry
	if e.Operation() == jetstream.KeyValuePut && json.Unmarshal(e.Value(), &he) == nil && he.Cancelled {
		if h.cancelled == nil {
			h.cancelled = map[string]bool{}
		}
		h.cancelled[e.Key()] = true
	} else {
		delete(h.cancelled, e.Key())
	}
}

// anyCancelled reports whether the view has a hold whose entry says
// Cancelled.
func (h *holdIndex) anyCancelled() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.cancelled) > 0
}

// any reports whether the view has a held submission.
func (h *holdIndex) any() bool {
	if h == nil || h.kv == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.byTenant) > 0
}

// forget empties the view: the bucket it was of is gone.
func (h *holdIndex) forget() {
	h.mu.Lock()
	defer h.mu.Unlock()
	clear(h.byTenant)
	clear(h.cancelled)
}

// isCancelled reports whether key's entry, as the view last saw it, says
// Cancelled.
func (h *holdIndex) isCancelled(key string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cancelled[key]
}

// newTenants copies the view's keys of the tenants known does not have.
func (h *holdIndex) newTenants(known map[string][]string) map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out map[string][]string
	for t, keys := range h.byTenant {
		if _, ok := known[t]; !ok {
			if out == nil {
				out = map[string][]string{}
			}
			out[t] = slices.Clone(keys)
		}
	}
	return out
}

// snapshot copies the view.
func (h *holdIndex) snapshot() map[string][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string][]string, len(h.byTenant))
	for t, keys := range h.byTenant {
		out[t] = slices.Clone(keys)
	}
	return out
}

// allower is the read-only check of budget.Budgets.
type allower interface {
	Allows(ctx context.Context, tenant string, amount money.Cents, now time.Time) error
}

// capsWatcher reports cap changes (budget.Budgets.WatchCaps).
type capsWatcher interface {
	WatchCaps(ctx context.Context, fn func(budget.Scope)) error
}

// RunHolds sends held submissions again when the caps allow them, oldest
// first per tenant: every HoldPoll (so a new day or month is noticed), and
// when a cap changes. A held submission past MaxAge is sent again too, to be
// failed as expired. It returns when ctx is done; without a holds bucket
// it only waits. Without caps (Deps.Budget nil) nothing is held, and what
// a cap held before goes, oldest first. A watch of the holds bucket that
// cannot start or that ends (NATS unreachable, a JetStream leader
// election) is started again a second later: a transient failure must not
// stop the daemon.
func (p *Pipeline) RunHolds(ctx context.Context) error {
	if p.holds.kv == nil {
		<-ctx.Done()
		return nil
	}
	for {
		err := p.followHolds(ctx)
		if ctx.Err() != nil { // stopped: not a failure
			return nil
		}
		p.log.Warn().Err(err).Msg("holds watch interrupted: held submissions wait until it is back; watching again")
		if !workpool.Sleep(ctx, time.Second) {
			return nil
		}
	}
}

// followHolds runs one watch of the holds bucket, releasing held
// submissions as RunHolds says, until ctx is done (nil) or the watch fails
// or ends (an error).
func (p *Pipeline) followHolds(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx) // ends the caps watch below when this one ends
	defer cancel()
	guard, err := bucket.Begin(ctx, p.holds.kv, bucket.KeepUp)
	if err != nil {
		return fmt.Errorf("holds: watch: %w", err)
	}
	w, err := p.holds.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("holds: watch: %w", err)
	}
	defer w.Stop()
	check := time.NewTicker(cmp.Or(p.holds.recheck, bucket.Recheck))
	defer check.Stop()
	poke := p.holdsPoke // also a token handed out (turns.go)
	if poke == nil {    // a Pipeline not made by New (tests)
		poke = make(chan struct{}, 1)
	}
	if cw, ok := p.d.Budget.(capsWatcher); ok {
		wg.Go(func() { p.watchCaps(ctx, cw, poke) })
	}
	tick := time.NewTicker(p.cfg.HoldPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !p.holds.follow(e, ok, guard.Lag) {
				return errWatchStopped
			}
			if e != nil && p.holds.isCancelled(e.Key()) {
				notify(poke) // CancelUnsent left it to the pass: at once, not at the next tick
			}
		case <-tick.C:
			if !p.holds.catchUp(w, guard.Lag) {
				return errWatchStopped
			}
			p.releaseAndFollow(ctx, poke)
		case <-poke:
			if !p.holds.catchUp(w, guard.Lag) {
				return errWatchStopped
			}
			p.releaseAndFollow(ctx, poke)
		case <-check.C:
			// A bucket deleted and made anew numbers its entries from 1
			// again, and the watch goes on after the old bucket's last
			// revision: it would never deliver the new holds, and the
			// old ones, gone, would stay in the view.
			if err := guard.Check(ctx); err != nil {
				p.holds.forget()
				return fmt.Errorf("holds: watch: %w", err)
			}
		case <-guard.C():
			// The watch's consumer is lost with the connection up (the
			// cluster node that held it failed): nats.go would make it
			// again 10 to 20 s later, the holds stored meanwhile unseen.
			// The view is kept: a new watch delivers every hold again.
			if err := guard.Lost(len(w.Updates())); err != nil {
				return fmt.Errorf("holds: watch: %w", err)
			}
		}
	}
}

var errWatchStopped = errors.New("holds: watch: the watcher stopped")

// watchCaps pokes the holds pass at every cap change until ctx is done. A
// caps watch stops when its bucket is made anew (budget.FollowCaps): it
// once stayed stopped, and a cap raised in the new bucket waited for the
// next HoldPoll. It is started again a second later, with a poke, since
// a cap set in the new bucket before it began is not reported. One that
// could not begin (the bucket gone and not made again yet, NATS
// unreachable) is tried again after twice as long each time, up to
// HoldPoll: tried every second, its pokes made a holds pass over every
// tenant each second for as long as the bucket was gone.
func (p *Pipeline) watchCaps(ctx context.Context, cw capsWatcher, poke chan<- struct{}) {
	wait := time.Second
	for {
		began := time.Now()
		err := cw.WatchCaps(ctx, func(budget.Scope) { notify(poke) })
		if ctx.Err() != nil {
			return
		}
		p.rare.Warn().Err(err).Msg("holds: caps watch interrupted: a changed cap is seen at the next pass; watching again")
		if time.Since(began) >= bucket.Recheck { // it watched (a bucket made anew is noticed after Recheck)
			wait = time.Second
		} else {
			wait = max(time.Second, min(2*wait, p.cfg.HoldPoll))
		}
		if !workpool.Sleep(ctx, wait) {
			return
		}
		notify(poke)
	}
}

// follow applies one update of the watch (e, ok from its channel), noting
// it in the watch's lag, and reports whether the watch goes on.
func (h *holdIndex) follow(e jetstream.KeyValueEntry, ok bool, lag *bucket.Lag) bool {
	if ok && e != nil {
		lag.Delivered(e.Revision())
		h.seen(e)
	}
	return ok
}

// catchUp applies the updates the watch has delivered already, so that a
// pass sees every key known so far. Taken one at a time between passes
// (the select picks among ready channels at random), they waited behind
// ticks and pokes, each a pass of up to a second or more: a submission held
// a moment ago missed several passes. It reports whether the watch goes on.
func (h *holdIndex) catchUp(w jetstream.KeyWatcher, lag *bucket.Lag) bool {
	for range len(w.Updates()) {
		if e, ok := <-w.Updates(); !h.follow(e, ok, lag) {
			return false
		}
	}
	return true
}

func notify(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// releaseAndFollow releases what may go, and comes back within a second
// while a released submission has not been picked up yet: the tenant's next
// hold waits for it, and must not wait for the next HoldPoll.
func (p *Pipeline) releaseAndFollow(ctx context.Context, poke chan<- struct{}) {
	if p.releaseHolds(ctx) {
		time.AfterFunc(time.Second, func() { notify(poke) })
	}
}

// releaseHolds goes through every tenant's held submissions in order. It
// reports whether a released one was not picked up yet.
//
// A tenant whose head hold fails is retried at the next pass and does not
// delay the others in this one: it once slept a second here, so that with
// many tenants failing (a quota, a message gone) the pass took that many
// seconds and every healthy tenant's release waited behind them. Passes
// come only from HoldPoll's tick and from pokes (a cap changed, a release
// not picked up yet, a second later), so a pass in which every tenant
// fails does not start the next one: no busy loop.
//
// The pass does not wait for one release to be picked up before it goes
// on to the other tenants: it sends each tenant's next hold that may go,
// then reads the released records (awaitPickUps) and sends a tenant's
// next hold as soon as its release is picked up. Each release is waited
// for up to releaseWait from its sending. The pass once waited up to
// releaseWait for each release in turn, so that with the pipeline stalled
// or slow N tenants made it take N seconds, the healthy ones waiting
// behind.
func (p *Pipeline) releaseHolds(ctx context.Context) (pending bool) {
	queues := p.holds.snapshot()
	var sent []*release
	// Tenants whose share of the budget's waits is full (turns.go) are not
	// read; they, and tenants held since the pass began, are looked at
	// whenever a release is picked up (a wait may have ended meanwhile),
	// before the next of its tenant: else one tenant's long queue,
	// released one after another, kept the pass to itself, and another
	// tenant's hold waited for its end.
	lookAgain := map[string]bool{}
	nextOf := func(tenant string) *release {
		keys := queues[tenant]
		r, rest := p.releaseNext(ctx, tenant, keys)
		queues[tenant] = rest
		if r == nil && !p.turns.room(tenant) { // kept for its share, perhaps: looked at again
			queues[tenant], lookAgain[tenant] = keys, true
		}
		return r
	}
	// A tenant no cap applies to has as many released at once as its
	// share has room for (out: released, not picked up yet), topped up as
	// each is picked up: one at a time, each waiting for the last to be
	// picked up (tens of milliseconds), its batch went out slower than a
	// budget of more than about ten calls a second. Under a cap, one at a
	// time: the caps count a release only once it reserves, and the next
	// must see that.
	out := map[string]int{}
	width := func(tenant string) int {
		if p.caps.uncapped(tenant) {
			return max(1, p.turns.free(tenant)-out[tenant])
		}
		return 1
	}
	nextN := func(tenant string, n int) (rs []*release) {
		for range n {
			r := nextOf(tenant)
			if r == nil {
				break
			}
			out[tenant]++
			rs = append(rs, r)
		}
		return rs
	}
	for tenant, keys := range queues {
		if !p.turns.room(tenant) {
			lookAgain[tenant] = true
			p.endCancelled(ctx, tenant, keys)
			continue
		}
		sent = append(sent, nextN(tenant, width(tenant))...)
	}
	return p.awaitPickUps(ctx, sent, func(tenant string) []*release {
		var rs []*release
		for t, keys := range p.holds.newTenants(queues) {
			queues[t], lookAgain[t] = keys, true
		}
		for t := range lookAgain {
			if p.turns.room(t) {
				delete(lookAgain, t)
				rs = append(rs, nextN(t, width(t))...)
			}
		}
		out[tenant]--
		return append(rs, nextN(tenant, width(tenant))...)
	})
}

// releaseNext goes through tenant's held keys in order until one is sent
// again (r; rest are the keys behind it), or one must stay where it is
// (nil): the tenant's next ones wait behind it, but for those cancelled.
func (p *Pipeline) releaseNext(ctx context.Context, tenant string, keys []string) (r *release, rest []string) {
	for i, key := range keys {
		r, next, err := p.releaseHold(ctx, tenant, key)
		switch {
		case err != nil:
			p.log.Warn().Err(err).Str("tenant", tenant).Msg("held submission not released yet; retrying")
			return nil, nil
		case r != nil:
			return r, keys[i+1:]
		case !next:
			p.endCancelled(ctx, tenant, keys[i+1:])
			return nil, nil
		}
	}
	return nil, nil
}

// endCancelled fails the holds among keys, those behind one that must
// stay where it is, that CancelUnsent marked in their entry: it could not
// send their message again for a delivery to fail them, so the pass must,
// and a cancelled hold takes no room from the caps. It once waited behind
// its tenant's oldest hold for as long as a cap held that one (to the end
// of the day, or of the month), cancelled but still held. The others
// behind stay: read here at every pass, a tenant's thousands of holds
// would cost thousands of reads each time.
func (p *Pipeline) endCancelled(ctx context.Context, tenant string, keys []string) {
	if !p.holds.anyCancelled() { // mostly: a tenant's long queue is not looked through at every pass
		return
	}
	for _, key := range keys {
		if !p.holds.isCancelled(key) {
			continue
		}
		// Sent again (its message back meanwhile), it is failed by its
		// delivery: no release to wait for, it takes no room.
		if _, _, err := p.releaseHold(ctx, tenant, key); err != nil {
			p.log.Warn().Err(err).Str("tenant", tenant).Msg("cancelled held submission not failed yet; retrying")
			return
		}
	}
}

// release is a held submission sent again. The caps count it only once it
// reserves: until then the tenant's next hold would see the same room and
// could take it first. Its key stays (this replica and the others send the
// same message again, stored once) until the record has left held.
type release struct {
	tenant, key string
	keyRev      uint64         // the hold key's revision
	held        *record.Record // the record as it was released
	rev         uint64         // its revision then
	until       time.Time      // when the pass stops waiting for it: releaseWait after it was sent (real time, a context deadline)
}

// releaseHold sends one held submission again when it may go (r). When
// it does not, next says whether the tenant's next one may be looked at.
func (p *Pipeline) releaseHold(ctx context.Context, tenant, key string) (r *release, next bool, err error) {
	_, id, _ := parseHoldKey(key)
	e, err := p.holds.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		// A KV get is a direct get, which any replica answers: one that
		// lags (a node restarted and catching up) says "no such key" for
		// a key the leader has. Dropped from the view on its word, the
		// hold was never looked at again (nothing changes its key until
		// it is released). Only the leader's answer drops it.
		if _, ok, lerr := record.LeaderGet(ctx, p.d.Publisher, p.lay.HoldsBucket(), key); lerr != nil || ok {
			return nil, false, lerr // there: the next pass reads it again
		}
		p.holds.drop(tenant, key)
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	var he holdEntry
	if err := json.Unmarshal(e.Value(), &he); err != nil {
		return nil, true, p.holds.kv.Delete(ctx, key)
	}
	rec, rev, err := p.store.Get(ctx, tenant, id)
	if err == nil && rec.State != record.StateHeld || errors.Is(err, record.ErrNotFound) {
		// Not held, as a direct get says: released already, ended, or
		// being sent. A replica that lags answers with an older revision
		// (claimed, before the hold) or none, and the key of a submission
		// held since was removed on its word: held with no key, it was
		// never released nor expired (the chaos suite's leader kills).
		// What removes or keeps the key is decided on the leader's record.
		rec, rev, err = p.store.GetFromLeader(ctx, p.d.Publisher, tenant, id)
	}
	if err == nil && rec.State == record.StateFailed && (rec.Reason == dlq.ReasonMalformed || rec.Reason == dlq.ReasonExpired || cancelledAlready(rec)) {
		// endHold failed it, and stopped before its key was gone; or the
		// pipeline expired it on its release's delivery, and announced it
		// under the same dead letter and event ids (stored once).
		next, err = p.announceEndedHold(ctx, key, e.Revision(), rec, he)
		return nil, next, err
	}
	now := p.cfg.Now()
	if err == nil && rec.State == record.StateClaimed && rec.Pending != nil && now.Before(rec.Pending.Until) {
		// A delivery has it, and may be holding it: hold writes the key
		// first, then the record. Removed now, the key would be gone
		// when the record says held, and it would never be released.
		p.log.Debug().Str("tenant", tenant).Str("submission", id).
			Msg("held submission's record is claimed, and a delivery has it: its key stays")
		return nil, false, nil
	}
	if errors.Is(err, record.ErrNotFound) || (err == nil && rec.State != record.StateHeld) {
		next, err = p.removeKey(ctx, key, e.Revision()) // released already
		return nil, next, err
	}
	if err != nil {
		return nil, false, err
	}
	cancelled := cancelledHold(rec) // sent again whatever the caps say: its delivery fails it
	if !p.heldPastMaxAge(rec, now) && cancelled == nil {
		if next, err := p.stillUnpriced(ctx, rec); next || err != nil {
			return nil, next, err
		}
		if ok, err := p.allows(ctx, rec, now); err != nil || !ok {
			return nil, false, err
		}
		if !p.turns.room(tenant) { // its share of the budget's waits is full (turns.go)
			return nil, false, nil
		}
	}
	var unreleasable *unreleasableError
	var refused *jetstream.APIError
	keyRev, serr := p.sendAgain(ctx, rec, he, e)
	if keyRev == 0 { // not sent: the key as it was read
		keyRev = e.Revision()
	}
	switch {
	case errors.Is(serr, errHoldMoved):
		p.log.Debug().Str("tenant", tenant).Str("submission", id).
			Msg("held submission's key moved while it was sent again (renewed by another replica, or held again): the next pass looks again")
		return nil, false, nil
	case cancelled != nil && (errors.Is(serr, errHeldMsgGone) || errors.As(serr, &refused) || errors.As(serr, &unreleasable)):
		// Nothing to release, or nothing the stream takes: no delivery
		// will fail it, so the pass does, as the operator asked.
		next, err = p.endHold(ctx, key, keyRev, rec, rev, he, cancelReason(rec), fmt.Errorf("%w, and %w", cancelled, serr))
	case errors.As(serr, &unreleasable):
		next, err = p.endHold(ctx, key, keyRev, rec, rev, he, dlq.ReasonMalformed, unreleasable)
	case errors.Is(serr, errHeldMsgGone) && p.heldPastMaxAge(rec, now):
		// Nothing to release, so no delivery will expire it.
		next, err = p.endHold(ctx, key, keyRev, rec, rev, he, dlq.ReasonExpired,
			fmt.Errorf("held past the maximum age of %s, and %w", p.cfg.MaxAge, errHeldMsgGone))
	case errors.Is(serr, errHeldMsgGone):
		// It waits for the maximum age, but never for room: it cannot
		// take the room its tenant's next holds wait for, which once
		// waited behind it until then (72 hours by default).
		p.log.Warn().Err(serr).Str("tenant", tenant).Str("submission", id).
			Msg("held submission cannot be released: it fails expired at the maximum age; its tenant's next ones go meanwhile")
		return nil, true, nil
	case errors.As(serr, &refused) && p.heldPastMaxAge(rec, now):
		// The stream answered no, so nothing was stored (its tenant holds
		// as many submissions as its quota allows, layout.Layout.
		// TenantMaxSubmissions): no delivery will expire it. Until the
		// maximum age it waits for room, as its tenant's next submission.
		next, err = p.endHold(ctx, key, keyRev, rec, rev, he, dlq.ReasonExpired,
			fmt.Errorf("held past the maximum age of %s, and its release refused: %w", p.cfg.MaxAge, serr))
	case serr != nil:
		return nil, false, serr
	default:
		return &release{tenant: tenant, key: key, keyRev: keyRev, held: rec, rev: rev, until: time.Now().Add(releaseWait)}, false, nil
	}
	return nil, next, err
}

// cancelledHold is the cause of the failure of a held or claimed record
// an operator cancelled, or its producer withdrew (record.Record.
// CancelRequested); nil when neither did.
func cancelledHold(rec *record.Record) error {
	if rec.CancelRequested.IsZero() {
		return nil
	}
	how := "while a spending cap held it"
	if rec.State == record.StateClaimed {
		how = "before it was sent"
	}
	return fmt.Errorf("cancelled %s at %s %s: nothing was sent",
		rec.CancelledByWhom(), rec.CancelRequested.UTC().Format(time.RFC3339), how)
}

// cancelReason is the reason a cancelled held record fails with:
// withdrawn when its producer asked, cancelled_by_operator otherwise.
func cancelReason(rec *record.Record) string {
	if rec.CancelledBy == record.CancelledByTenant {
		return dlq.ReasonWithdrawn
	}
	return dlq.ReasonCancelledByOperator
}

// cancelledAlready reports whether rec failed as a cancelled hold does.
func cancelledAlready(rec *record.Record) bool {
	return rec.State == record.StateFailed && (rec.Reason == dlq.ReasonCancelledByOperator || rec.Reason == dlq.ReasonWithdrawn)
}

// releaseWait bounds how long a pass waits for a release to be picked up;
// the pass comes back a second later for one that was not.
const releaseWait = time.Second

// awaitPickUps reads the released records until each has been picked up
// (its key goes, and next(tenant) sends the tenant's next hold, nil when
// none may go), held again (another took the room), or waited for
// releaseWait: it keeps its place, and the tenant's next ones wait behind
// it. It reports whether one was not picked up.
func (p *Pipeline) awaitPickUps(ctx context.Context, rs []*release, next func(tenant string) []*release) (pending bool) {
	for wait := 10 * time.Millisecond; len(rs) > 0; wait = min(2*wait, 200*time.Millisecond) {
		if !workpool.Sleep(ctx, wait) {
			return true
		}
		var left []*release
		for _, r := range rs {
			picked, again := p.pickUp(ctx, r)
			switch {
			case picked:
				if p.dropKey(ctx, r) {
					if n := next(r.tenant); len(n) > 0 {
						left, wait = append(left, n...), 5*time.Millisecond // read them soon
					}
				}
			case again:
			case !time.Now().Before(r.until):
				pending = true
			default:
				left = append(left, r)
			}
		}
		rs = left
	}
	return pending
}

// pickUp reads a released record once: it has left held (picked: it
// reserved its room, or failed), or it was held again (a new timeline
// entry, and still held: again). A write that leaves it held without a new
// timeline entry is the pipeline at work on it (its lease): neither yet.
// The read gives up when the release's wait ends.
func (p *Pipeline) pickUp(ctx context.Context, r *release) (picked, again bool) {
	ctx, cancel := context.WithDeadline(ctx, r.until)
	defer cancel()
	rec, now, err := p.store.Get(ctx, r.tenant, r.held.ID)
	switch {
	case err != nil:
		return false, false
	case now < r.rev: // a replica that lags: older than the record released
		return false, false
	case rec.State != record.StateHeld:
		return true, false
	}
	return false, now != r.rev && len(rec.Timeline) > len(r.held.Timeline)
}

// dropKey removes the key of a release that was picked up, and reports
// whether the tenant's next hold may be looked at.
func (p *Pipeline) dropKey(ctx context.Context, r *release) bool {
	removed, err := p.removeKey(ctx, r.key, r.keyRev)
	switch {
	case err != nil:
		p.log.Warn().Err(err).Str("tenant", r.tenant).
			Msg("held submission released, its key not removed yet; the next pass removes it")
	case !removed:
		// Routine with two replicas or more: each releases the same hold
		// (one message, releaseMsgID) and one removes its key first. Or
		// the submission was held again under the same key.
		p.log.Debug().Str("tenant", r.tenant).
			Msg("held submission released, its key removed by another replica or held again")
	}
	return removed
}

// removeKey removes a hold key at revision rev, the one read, and reports
// whether it did. A key written since (a replay of the submission held
// again, in its place: the same key) is not removed: removed whatever it
// held, the held submission had no key, and was never released nor
// expired. The next pass reads it again.
func (p *Pipeline) removeKey(ctx context.Context, key string, rev uint64) (bool, error) {
	err := p.holds.kv.Delete(ctx, key, jetstream.LastRevision(rev))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return false, nil
	}
	return err == nil, err
}

// allows asks the caps whether a held record may go now, at the price its
// record notes: the one its last delivery asked them for (hold). One that
// holds a reservation already may: a release's delivery reserved and
// stopped before its POST (the wallet empty, transient trouble), and
// Reserve gives that reservation back to the next delivery, counting
// nothing more.
// Asked for room once more, the caps count its own reservation against
// it: with no delivery of it coming (its release left the stream), it
// stayed held on the room it holds until its period ended or it expired.
//
// A record without a price (written before its submission was priced) is
// asked about as free: a pause, or a request cap reached, keeps it held
// (released, its delivery would only hold it again); its delivery prices
// it. A pause keeps every held record where it is, one holding a
// reservation too.
func (p *Pipeline) allows(ctx context.Context, rec *record.Record, now time.Time) (bool, error) {
	a, ok := p.d.Budget.(allower)
	if !ok {
		return true, nil
	}
	var amount money.Cents
	if rec.Price != nil {
		var err error
		if amount, err = money.FromFloat(*rec.Price); err != nil {
			return true, nil
		}
	}
	var paused *budget.PausedError
	switch err := a.Allows(ctx, rec.Tenant, amount, now); {
	case err == nil:
		return true, nil
	case errors.As(err, &paused):
		return false, nil // paused, its own reservation is no room: its delivery would be held again
	}
	l, ok := p.d.Budget.(reservationLookup)
	if !ok {
		return false, nil
	}
	_, held, err := l.Lookup(ctx, rec.Tenant, rec.ID, now)
	return err == nil && held, nil
}

// stillUnpriced reports whether a submission held for its unknown price
// must stay held: its service still publishes no price, and a euro cap
// still applies to it. It waits for no room, only for one of those to
// change (an operator's decision, the upstream's, or the maximum age), so
// its tenant's next holds go meanwhile (next): behind it, they would wait
// for as long. One that may go goes on to the caps' usual check; its
// delivery reads the schema again.
//
// The record does not say which options the submission chose (only its
// price as far as known), so it stays while the service's prezzo_visura or
// any option's prezzo is unknown (Service.AnyPriceUnknown): released while
// only an option it chose is unpriced, its delivery would hold it again,
// and so on every pass, a held event each time, its tenant's next holds
// behind it. The cost is one that chose none of the unpriced options once
// the rest is priced: it waits as one that did, for the euro caps to go,
// the option to be priced or the maximum age.
func (p *Pipeline) stillUnpriced(ctx context.Context, rec *record.Record) (next bool, err error) {
	if p.d.Budget == nil || !heldUnpriced(rec) {
		return false, nil
	}
	if svc, err := p.d.Schemas.Service(ctx, rec.ServiceHash); err == nil && !svc.AnyPriceUnknown() {
		return false, nil // priced now; a schema that cannot be read leaves it held until the next pass
	}
	var unpriced *budget.UnpricedError
	switch err := p.d.Budget.AllowsUnpriced(ctx, rec.Tenant); {
	case errors.As(err, &unpriced):
		return true, nil
	case err != nil:
		return false, err
	}
	return false, nil
}

// errHeldMsgGone: a held submission's message is gone from the
// submissions stream (aged out, deleted by a quota lowered under it, or by
// an operator): it cannot be released.
var errHeldMsgGone = errors.New("its message is gone from the submissions stream")

// sendAgain republishes a held submission's message under the id of its
// hold entry e's revision (releaseMsgID), so that replicas releasing it at
// once store it once, and returns the hold key's revision that id names.
// An *unreleasableError says that the message is larger than a submission
// may now be: it was not published again, or the stream refused it.
//
// A release the stream answers as a duplicate of a message it no longer
// has left the stream before a delivery picked it up (deleted by an
// operator, by a quota lowered under it, aged out): under that id nothing
// would be stored until the stream's duplicate window ends (24 h by
// default), the submission held and its tenant's next holds behind it all
// that time. The hold entry is renewed (renewHold) and the message sent
// under the new revision's id. One that the stream still has is left
// alone: not picked up yet, a delivery will have it; or delivered already,
// and every decision a delivery makes on a held record moves the record
// or, held again, its key (hold writes it: a new revision). The one
// exception, a rejection of the message itself (malformed: the record
// untouched), cannot meet a release, a copy of a message that passed those
// checks when it was held, unless they changed meanwhile (an upgrade): a
// release under a new id would be rejected again.
func (p *Pipeline) sendAgain(ctx context.Context, rec *record.Record, he holdEntry, e jetstream.KeyValueEntry) (keyRev uint64, err error) {
	raw, gone, err := p.heldMessage(ctx, rec, he)
	if err != nil {
		return 0, err
	}
	if gone {
		return 0, fmt.Errorf("held submission %s: message %d: %w", record.Key(rec.Tenant, rec.ID), he.Seq, errHeldMsgGone)
	}
	if err := p.fitsRelease(ctx, len(raw.Data), nil); err != nil {
		return 0, err
	}
	keyRev = e.Revision()
	ack, err := p.publishRelease(ctx, rec, he.Subject, raw.Data, keyRev)
	if err != nil || !ack.Duplicate {
		return keyRev, err
	}
	if gone, err := p.releaseGone(ctx, ack.Sequence); err != nil || !gone {
		return keyRev, err
	}
	if keyRev, err = p.renewHold(ctx, e); err != nil {
		return 0, err
	}
	_, err = p.publishRelease(ctx, rec, he.Subject, raw.Data, keyRev)
	return keyRev, err
}

// heldMessage reads the message of hold entry he, the held submission
// rec's, from the submissions stream. gone is true when the stream no
// longer has it, and when the message at its sequence is another one: a
// stream deleted and made anew (iseed serve makes it at start) numbers its
// messages from 1 again while the holds bucket keeps the old sequences.
// Sent again on the held tenant's subject, another tenant's submission
// there was rejected as the held tenant's, its id and fingerprint in that
// tenant's event, its payload in a dead letter filed under that tenant.
func (p *Pipeline) heldMessage(ctx context.Context, rec *record.Record, he holdEntry) (raw *jetstream.RawStreamMsg, gone bool, err error) {
	return heldMessage(ctx, p.d.Resources, rec, he)
}

// heldMessage is Pipeline.heldMessage on res: for iseed cancel too
// (CancelUnsent).
func heldMessage(ctx context.Context, res *layout.Resources, rec *record.Record, he holdEntry) (raw *jetstream.RawStreamMsg, gone bool, err error) {
	raw, err = res.Submissions.GetMsg(ctx, he.Seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return raw, !isSubmissionOf(res.Layout, rec, raw), nil
}

// isSubmissionOf reports whether raw, a message of layout l's submissions
// stream, is one of rec's submission: on its tenant's subject, with its id
// and, if it still decodes (a newer version may refuse what an older one
// held), its payload's fingerprint.
func isSubmissionOf(l layout.Layout, rec *record.Record, raw *jetstream.RawStreamMsg) bool {
	if tenant := l.TenantOf(raw.Subject); !record.ValidToken(tenant) || tenant != rec.Tenant {
		return false
	}
	sub, err := DecodeSubmission(raw.Data)
	if err != nil {
		return PeekID(raw.Data) == rec.ID
	}
	return sub.ID == rec.ID && sub.Fingerprint() == rec.Fingerprint
}

// publishRelease publishes data, a held submission's message, on subject
// under releaseMsgID(rec, keyRev).
func (p *Pipeline) publishRelease(ctx context.Context, rec *record.Record, subject string, data []byte, keyRev uint64) (*jetstream.PubAck, error) {
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, releaseMsgID(rec, keyRev))
	ack, err := p.d.Publisher.PublishMsg(ctx, m)
	if errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
		// The stream's limit was lowered since the limit was last read.
		err = p.fitsRelease(ctx, len(data), err)
	}
	if err != nil {
		return nil, fmt.Errorf("release %s: %w", record.Key(rec.Tenant, rec.ID), err)
	}
	return ack, nil
}

// releaseMsgID is the message id of a held submission sent again: one per
// hold entry's revision, so that replicas releasing the same hold send one
// message, and a submission held again after a release (a race for the
// last place), or whose release left the stream unpicked (renewHold), is
// not taken for a duplicate when released again.
func releaseMsgID(rec *record.Record, keyRev uint64) string {
	return publisher.RepublishMsgID(rec.Tenant, rec.ID, rec.Fingerprint,
		"h"+strconv.FormatInt(rec.HeldSince.UnixNano(), 10)+"."+strconv.FormatUint(keyRev, 10))
}

// releaseGone reports whether the message at seq, a release the stream
// took a publish for a duplicate of, has left the submissions stream.
func (p *Pipeline) releaseGone(ctx context.Context, seq uint64) (bool, error) {
	_, err := p.d.Resources.Submissions.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("released message %d: %w", seq, err)
	}
	return false, nil
}

// renewHold writes hold entry e again, unchanged, under its revision (a
// compare-and-set), and returns the new revision: the hold's next release
// gets a message id of its own. Replicas renewing it at once: one write
// wins, the others get errHoldMoved (as when a delivery held the
// submission again meanwhile, or it was picked up and its key removed),
// and leave the hold to the next pass, which reads the key's revision now.
func (p *Pipeline) renewHold(ctx context.Context, e jetstream.KeyValueEntry) (uint64, error) {
	rev, err := p.holds.kv.Update(ctx, e.Key(), e.Value(), e.Revision())
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return 0, errHoldMoved
	}
	if err != nil {
		return 0, fmt.Errorf("renew hold %s: %w", e.Key(), err)
	}
	return rev, nil
}

// errHoldMoved: a hold key changed since it was read.
var errHoldMoved = errors.New("hold: its key changed since it was read")
