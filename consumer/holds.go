package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/dlq"
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
}

// holdIndex is the holds bucket and, while RunHolds runs, a view of it.
type holdIndex struct {
	kv       jetstream.KeyValue // nil: no holds (no caps configured)
	mu       sync.Mutex
	byTenant map[string][]string // tenant → held keys, sorted
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
	if _, err := h.kv.Put(ctx, holdKey(tenant, id, since), v); err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	return nil
}

// seen updates the view with one change of the bucket.
func (h *holdIndex) seen(e jetstream.KeyValueEntry) {
	tenant, _, ok := parseHoldKey(e.Key())
	if !ok {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byTenant == nil {
		h.byTenant = map[string][]string{}
	}
	keys := h.byTenant[tenant]
	i, found := slices.BinarySearch(keys, e.Key())
	switch {
	case e.Operation() == jetstream.KeyValuePut && !found:
		keys = slices.Insert(keys, i, e.Key())
	case e.Operation() != jetstream.KeyValuePut && found:
		keys = slices.Delete(keys, i, i+1)
	}
	if len(keys) == 0 {
		delete(h.byTenant, tenant)
	} else {
		h.byTenant[tenant] = keys
	}
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
// failed as expired. It returns when ctx is done; without caps it only
// waits. A watch of the holds bucket that cannot start or that ends (NATS
// unreachable, a JetStream leader election) is started again a second
// later: a transient failure must not stop the daemon.
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
	w, err := p.holds.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("holds: watch: %w", err)
	}
	defer w.Stop()
	poke := make(chan struct{}, 1)
	if cw, ok := p.d.Budget.(capsWatcher); ok {
		wg.Go(func() { _ = cw.WatchCaps(ctx, func(budget.Scope) { notify(poke) }) })
	}
	tick := time.NewTicker(p.cfg.HoldPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("holds: watch: the watcher stopped")
			}
			if e != nil {
				p.holds.seen(e)
			}
		case <-tick.C:
			p.releaseAndFollow(ctx, poke)
		case <-poke:
			p.releaseAndFollow(ctx, poke)
		}
	}
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
func (p *Pipeline) releaseHolds(ctx context.Context) (pending bool) {
	for tenant, keys := range p.holds.snapshot() {
		for _, key := range keys {
			sent, err := p.releaseHold(ctx, tenant, key)
			if errors.Is(err, errNotPickedUp) {
				pending = true
				break
			}
			if err != nil {
				p.log.Warn().Err(err).Str("tenant", tenant).Msg("held submission not released yet; retrying")
			}
			if !sent || err != nil {
				break // the tenant's next ones wait behind this one
			}
		}
	}
	return pending
}

// errNotPickedUp: a released submission is not picked up yet; the tenant's
// next hold waits for it.
var errNotPickedUp = errors.New("released, not picked up yet")

// releaseHold sends one held submission again when it may go; sent says
// whether the tenant's next one may be looked at.
func (p *Pipeline) releaseHold(ctx context.Context, tenant, key string) (sent bool, err error) {
	_, id, _ := parseHoldKey(key)
	e, err := p.holds.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	var he holdEntry
	if err := json.Unmarshal(e.Value(), &he); err != nil {
		return true, p.holds.kv.Delete(ctx, key)
	}
	rec, rev, err := p.store.Get(ctx, tenant, id)
	if err == nil && rec.State == record.StateFailed && (rec.Reason == dlq.ReasonMalformed || rec.Reason == dlq.ReasonExpired) {
		// endHold failed it, and stopped before its key was gone; or the
		// pipeline expired it on its release's delivery, and announced it
		// under the same dead letter and event ids (stored once).
		return p.announceEndedHold(ctx, key, rec, he)
	}
	now := p.cfg.Now()
	if err == nil && rec.State == record.StateClaimed && rec.Pending != nil && now.Before(rec.Pending.Until) {
		// A delivery has it, and may be holding it: hold writes the key
		// first, then the record. Removed now, the key would be gone
		// when the record says held, and it would never be released.
		p.log.Debug().Str("tenant", tenant).Str("submission", id).
			Msg("held submission's record is claimed, and a delivery has it: its key stays")
		return false, nil
	}
	if errors.Is(err, record.ErrNotFound) || (err == nil && rec.State != record.StateHeld) {
		return true, p.holds.kv.Delete(ctx, key) // released already
	}
	if err != nil {
		return false, err
	}
	if !p.heldPastMaxAge(rec, now) {
		if ok, err := p.allows(ctx, rec, now); err != nil || !ok {
			return false, err
		}
	}
	var unreleasable *unreleasableError
	var refused *jetstream.APIError
	switch err := p.sendAgain(ctx, rec, he, e.Revision()); {
	case errors.As(err, &unreleasable):
		return p.endHold(ctx, key, rec, rev, he, dlq.ReasonMalformed, unreleasable)
	case errors.Is(err, errHeldMsgGone) && p.heldPastMaxAge(rec, now):
		// Nothing to release, so no delivery will expire it.
		return p.endHold(ctx, key, rec, rev, he, dlq.ReasonExpired,
			fmt.Errorf("held by a spending cap past the maximum age of %s, and %w", p.cfg.MaxAge, errHeldMsgGone))
	case errors.As(err, &refused) && p.heldPastMaxAge(rec, now):
		// The stream answered no, so nothing was stored (its tenant holds
		// as many submissions as its quota allows, layout.Layout.
		// TenantMaxSubmissions): no delivery will expire it. Until the
		// maximum age it waits for room, as its tenant's next submission.
		return p.endHold(ctx, key, rec, rev, he, dlq.ReasonExpired,
			fmt.Errorf("held by a spending cap past the maximum age of %s, and its release refused: %w", p.cfg.MaxAge, err))
	case err != nil:
		return false, err
	}
	// The caps count a released submission only once it reserves: until
	// then the tenant's next hold would see the same room and could take it
	// first. The key stays (this replica and the others send the same
	// message again, stored once) until the record has left held.
	switch picked, again := p.pickedUp(ctx, rec, rev); {
	case again:
		return false, nil // held again: another took the room
	case !picked:
		return false, errNotPickedUp
	}
	return true, p.holds.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
}

// releaseWait bounds how long a pass waits for a released submission to be
// picked up before it goes on to the other tenants (and comes back).
const releaseWait = time.Second

// pickedUp waits until the released record (at revision rev) has left held
// (it reserved its room, or failed: picked), or was held again (another
// took the room: again). A write that leaves it held without a new timeline
// entry is the pipeline at work on it (its lease): wait on. Neither within
// releaseWait, it keeps its place.
func (p *Pipeline) pickedUp(ctx context.Context, held *record.Record, rev uint64) (picked, again bool) {
	ctx, cancel := context.WithTimeout(ctx, releaseWait)
	defer cancel()
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		rec, now, err := p.store.Get(ctx, held.Tenant, held.ID)
		if err == nil && rec.State != record.StateHeld {
			return true, false
		}
		if err == nil && now != rev && len(rec.Timeline) > len(held.Timeline) {
			return false, true // a new entry, and still held: held again
		}
		if !workpool.Sleep(ctx, wait) {
			return false, false
		}
	}
}

// allows asks the caps whether a held record may go now.
func (p *Pipeline) allows(ctx context.Context, rec *record.Record, now time.Time) (bool, error) {
	a, ok := p.d.Budget.(allower)
	if !ok || rec.Price == nil {
		return true, nil
	}
	amount, err := money.FromFloat(*rec.Price)
	if err != nil {
		return true, nil
	}
	return a.Allows(ctx, rec.Tenant, amount, now) == nil, nil
}

// errHeldMsgGone: a held submission's message is gone from the
// submissions stream (aged out, deleted by a quota lowered under it, or by
// an operator): it cannot be released.
var errHeldMsgGone = errors.New("its message is gone from the submissions stream")

// sendAgain republishes a held submission's message; its message id is
// unique per hold, so replicas releasing it at once store it once. An
// *unreleasableError says that the message is larger than a submission
// may now be: it was not published again, or the stream refused it.
func (p *Pipeline) sendAgain(ctx context.Context, rec *record.Record, he holdEntry, rev uint64) error {
	raw, err := p.d.Resources.Submissions.GetMsg(ctx, he.Seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("held submission %s: message %d: %w", record.Key(rec.Tenant, rec.ID), he.Seq, errHeldMsgGone)
	}
	if err != nil {
		return err
	}
	if err := p.fitsRelease(ctx, len(raw.Data), nil); err != nil {
		return err
	}
	m := nats.NewMsg(he.Subject)
	m.Data = raw.Data
	// One id per hold entry's revision: replicas releasing the same hold
	// send one message, and a submission held again after a release (a
	// race for the last place) is not taken for a duplicate when released
	// again.
	m.Header.Set(jetstream.MsgIDHeader, publisher.SubmissionMsgID(rec.Tenant, rec.ID, rec.Fingerprint)+".h"+strconv.FormatInt(rec.HeldSince.UnixNano(), 10)+"."+strconv.FormatUint(rev, 10))
	_, err = p.d.Publisher.PublishMsg(ctx, m)
	if errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) {
		// The stream's limit was lowered since the limit was last read.
		err = p.fitsRelease(ctx, len(raw.Data), err)
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", record.Key(rec.Tenant, rec.ID), err)
	}
	return nil
}
