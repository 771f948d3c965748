package consumer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/workpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// The caps view. With spending caps on, a reservation costs several KV
// round trips before the POST and two more rounds after it (Commit), even
// when no cap applies: most deployments set none, or only for some
// tenants. The pipeline therefore keeps a copy of which scopes have caps,
// from one watch of the caps bucket (<prefix>_budgets, followed with
// budget.FollowCaps; a zero or deleted value means no cap), and a submission whose tenant and account
// have none, with no default tenant caps either, reserves nothing (and so
// commits nothing), unless an earlier delivery's reservation is still held
// (reserve takes it up). Everything else is as before:
//
//   - Until the watch has delivered every key the bucket held when it
//     started, and whenever it is interrupted (the connection to NATS lost
//     too, until a watch begun after it is back has delivered the bucket),
//     the view knows nothing and every submission reserves.
//   - Where a cap applies (the tenant's or the account's), the submission
//     reserves as always: a cap is never exceeded by submissions that
//     started after this replica's watch delivered it.
//   - A cap set where none was applies to submissions that start after the
//     watch delivers it to the replica (milliseconds after `iseed budget
//     set` returns): one reserved nothing before, so the cap's usage
//     counts spending from then on. Spending before is in the ledger
//     (`iseed spend`), not in the cap's usage.

// capsView is the pipeline's copy of which scopes have caps.
type capsView struct {
	kv jetstream.KeyValue

	mu     sync.Mutex
	ready  bool                  // the watch has delivered the whole bucket and runs
	capped map[budget.Scope]bool // scopes with a non-zero cap (or one that cannot be read)
	paused map[budget.Scope]bool // scopes an operator paused (budget.Budgets.Pause)
}

func newCapsView(kv jetstream.KeyValue) *capsView {
	return &capsView{kv: kv, capped: map[budget.Scope]bool{}, paused: map[budget.Scope]bool{}}
}

// pausedScope returns the scope whose pause holds tenant's submissions, the
// account's first, as the view has them; ok is false when none does (or
// the view knows nothing, or there is none).
func (v *capsView) pausedScope(tenant string) (budget.Scope, bool) {
	if v == nil {
		return budget.Scope{}, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case !v.ready:
	case v.paused[budget.Account()]:
		return budget.Account(), true
	case v.paused[budget.Tenant(tenant)]:
		return budget.Tenant(tenant), true
	}
	return budget.Scope{}, false
}

// errCapsUnknown: the caps view knows nothing now (starting, or its watch
// interrupted).
var errCapsUnknown = errors.New("the caps are not read yet (starting, or their watch interrupted)")

// Paused returns the scopes an operator paused ("account",
// "tenant:<name>", sorted), as this replica's view of the caps has them;
// an error while the view knows nothing. Without spending caps nothing is
// paused. It reads nothing: ctx is not used.
func (p *Pipeline) Paused(context.Context) (scopes []string, err error) {
	if p.caps == nil {
		return nil, nil
	}
	v := p.caps
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.ready {
		return nil, errCapsUnknown
	}
	for s := range v.paused {
		scopes = append(scopes, s.String())
	}
	slices.Sort(scopes)
	return scopes, nil
}

// uncapped reports whether no cap applies to tenant: neither the tenant's,
// nor the default tenant caps, nor the account's. It is false while the
// view knows nothing.
func (v *capsView) uncapped(tenant string) bool {
	if v == nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.ready && !v.capped[budget.Account()] && !v.capped[budget.TenantDefault()] && !v.capped[budget.Tenant(tenant)]
}

// CapsReady reports whether the pipeline knows every spending cap (its
// view of the caps bucket is complete and watching), so that a submission
// no cap applies to reserves nothing; until then every submission
// reserves. True without caps.
func (p *Pipeline) CapsReady() bool { return p.caps == nil || p.caps.complete() }

// CapsApply reports whether this replica's view of the caps has a cap
// that applies to tenant's submissions (its own, the default tenant caps
// or the account's). A cap set with `iseed budget set` applies once the
// view has it, milliseconds later: a test that sets one and then needs a
// submission held waits for this first.
func (p *Pipeline) CapsApply(tenant string) bool {
	return p.caps != nil && p.caps.complete() && !p.caps.uncapped(tenant)
}

// complete reports whether the view has the whole bucket and watches it.
func (v *capsView) complete() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.ready
}

// run keeps the view up to date until ctx is done, watching again after
// an interruption. Losing the connection to nc (nil: none to follow) is
// one: the watch's consumer may be gone with the server (a restart), and
// nats.go's watch makes it again only when it misses the server's
// heartbeats, up to 20 s after NATS is back, while the view went on
// serving caps set or raised since, and a cap set where none was was
// bypassed. The view now knows nothing from the moment the connection is
// lost, and watches anew, from the whole bucket, once it is back.
func (v *capsView) run(ctx context.Context, nc *nats.Conn, log zerolog.Logger) {
	var lost chan nats.Status
	if nc != nil {
		lost = nc.StatusChanged(nats.RECONNECTING, nats.DISCONNECTED)
		defer nc.RemoveStatusListener(lost)
	}
	for ctx.Err() == nil {
		if err := v.follow(ctx, lost); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("caps watch interrupted: every submission reserves until it is back")
		}
		v.forget()
		workpool.Sleep(ctx, time.Second)
	}
}

// errConnectionLost ends a watch of the caps when the connection is lost.
var errConnectionLost = errors.New("budget: watch caps: the connection to NATS was lost")

// follow runs one budget.FollowCaps into the view, until ctx is done, the
// watch stops, or a status arrives on lost (the connection lost).
func (v *capsView) follow(ctx context.Context, lost <-chan nats.Status) error {
	for len(lost) > 0 { // losses before this watch began: it watches a connection back
		<-lost
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // before wg.Wait: it ends the goroutine below
	var dropped atomic.Bool
	wg.Go(func() {
		select {
		case <-lost:
			dropped.Store(true)
			v.forget() // at once, not when the watch notices
			cancel()
		case <-ctx.Done():
		}
	})
	err := budget.FollowCaps(ctx, v.kv, false, v.apply)
	if dropped.Load() {
		return errConnectionLost
	}
	return err
}

// apply takes one step of the watch.
func (v *capsView) apply(e budget.CapsEvent) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch {
	case e.Synced:
		v.ready = true
	case e.Err != nil || !e.Caps.IsZero():
		v.capped[e.Scope] = true // what cannot be read is taken as a cap: Reserve decides
		if e.Caps.Paused {
			v.paused[e.Scope] = true
		} else {
			delete(v.paused, e.Scope)
		}
	default:
		delete(v.capped, e.Scope)
		delete(v.paused, e.Scope)
	}
}

// forget drops what the view knew: every submission reserves.
func (v *capsView) forget() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ready = false
	clear(v.capped)
	clear(v.paused)
}
