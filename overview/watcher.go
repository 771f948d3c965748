package overview

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Watcher keeps the counts of open requests from one watch of the records
// bucket. It keeps no record: for each open or unsent submission, its key,
// a state number and a submitted time (about 80 bytes; closed submissions
// cost nothing), so it serves 100,000 open requests in a few megabytes.
//
// On start the watch delivers every current record once, then every change
// as it is stored. Until that first pass is complete the Watcher is not
// ready and its counts are empty; should the watch end (the bucket
// recreated, the connection lost for good), a new one is built beside the
// old counts, which are served until the new pass is complete. A bucket
// deleted and made anew does not end a watch by itself (the watch goes on
// after the old bucket's last revision), so a watch checks every
// bucket.Recheck (5 s), with one stream info, that the bucket's stream is
// the one it began with, and ends when it is not. A watch whose consumer
// is lost while the connection stays up (the cluster node that held it
// failed) delivers nothing until nats.go, missing the server's heartbeats,
// makes it again 10 to 20 s later; the same stream info therefore also
// says whether a record stored since the watch began is undelivered, and
// a watch that, bucket.KeepUp later, has delivered nothing ends
// (bucket.Lag).
type Watcher struct {
	kv           jetstream.KeyValue
	overdueAfter time.Duration
	log          zerolog.Logger
	ready        chan struct{}
	readyOnce    sync.Once
	// recheck is how often a watch makes sure the bucket is still the one
	// it watches (its stream's creation time).
	recheck time.Duration

	mu    sync.Mutex
	names names  // state names, by number
	cur   *tally // nil until the first pass is complete
}

// NewWatcher returns a Watcher of the records bucket kv. A request open
// longer than overdueAfter counts as overdue (0: only those the tracker
// marked overdue).
func NewWatcher(kv jetstream.KeyValue, overdueAfter time.Duration, log zerolog.Logger) *Watcher {
	return &Watcher{kv: kv, overdueAfter: overdueAfter, log: log, ready: make(chan struct{}), names: newNames(),
		recheck: bucket.Recheck}
}

// Ready is closed once the first pass over the bucket is complete.
func (w *Watcher) Ready() <-chan struct{} { return w.ready }

// Run watches the bucket until ctx is done, rebuilding the watch when it
// fails or ends. It returns nil when ctx is done.
func (w *Watcher) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := w.watch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		w.log.Warn().Err(err).Msg("records watch ended; watching again")
		sleep(ctx, time.Second)
	}
	return nil
}

// watch runs one WatchAll: a fresh tally filled by the first pass, then
// changes applied to it as they come.
func (w *Watcher) watch(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	guard, err := bucket.Begin(ctx, w.kv, bucket.KeepUp)
	if err != nil {
		return fmt.Errorf("watch records: %w", err)
	}
	kw, err := w.kv.WatchAll(ctx)
	if err != nil {
		return fmt.Errorf("watch records: %w", err)
	}
	defer func() { _ = kw.Stop() }()
	check := time.NewTicker(w.recheck)
	defer check.Stop()
	next := newTally()
	for {
		select {
		case <-ctx.Done():
			// nats.go ends the watch when ctx is done, but its updates
			// channel is its to close: the stop is not left to that.
			return ctx.Err()
		case e, ok := <-kw.Updates():
			if !ok {
				return errors.New("watch records: updates closed")
			}
			if e != nil {
				guard.Delivered(e.Revision())
			}
			w.update(next, e)
		case <-check.C:
			// A bucket deleted and made anew numbers its entries from 1
			// again, and the watch goes on after the old bucket's last
			// revision: it would miss the new records and keep the old.
			if err := guard.Check(ctx); err != nil {
				return fmt.Errorf("watch records: %w", err)
			}
		case <-guard.C():
			if err := guard.Lost(len(kw.Updates())); err != nil {
				return fmt.Errorf("watch records: %w", err)
			}
		}
	}
}

// update counts one entry of the watch into t, or, for the marker that
// ends the first pass (nil), serves t.
func (w *Watcher) update(t *tally, e jetstream.KeyValueEntry) {
	w.mu.Lock()
	if e == nil { // the first pass is complete: serve it
		w.cur = t
	} else {
		w.apply(t, e)
	}
	w.mu.Unlock()
	if e == nil {
		w.readyOnce.Do(func() { close(w.ready) })
	}
}

// apply counts one change of the bucket into t. The caller holds mu.
func (w *Watcher) apply(t *tally, e jetstream.KeyValueEntry) {
	key := e.Key()
	if e.Operation() != jetstream.KeyValuePut {
		t.remove(key)
		return
	}
	v, err := decodeView(e.Value())
	if err != nil {
		w.log.Warn().Err(err).Str("key", key).Msg("record not counted: cannot decode it")
		t.remove(key)
		return
	}
	k, state := v.classify()
	if k == kindClosed {
		t.remove(key)
		return
	}
	en := entry{kind: k, state: w.names.id(state), submitted: unixSeconds(v.submittedAt())}
	if v.overdueNoted() {
		en.flags |= flagOverdue
	}
	if state == StateHeld {
		en.flags |= flagHeld
		en.code = w.names.id(v.heldCode())
	}
	t.put(key, en)
}

// unixSeconds stores t in 32 bits: seconds since 1970 until 2106.
func unixSeconds(t time.Time) uint32 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return uint32(min(s, 1<<32-1))
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// tenantOf returns the tenant part of a record key "<tenant>.<id>".
func tenantOf(key string) string {
	tenant, _, _ := strings.Cut(key, ".")
	return tenant
}

// idOf returns the id part of a record key "<tenant>.<id>".
func idOf(key string) string {
	_, id, _ := strings.Cut(key, ".")
	return id
}

// Counts returns the counts at now; ok is false (and the counts empty)
// until the first pass is complete.
func (w *Watcher) Counts(now time.Time) (c Counts, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur == nil {
		return newTally().counts(&w.names, now, w.overdueAfter), false
	}
	return w.cur.counts(&w.names, now, w.overdueAfter), true
}

// List returns one page of the open and unsent submissions q selects,
// oldest first. It sorts what matches: for an operator's page, not for a
// hot path.
func (w *Watcher) List(q Query) Page {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur == nil {
		return Page{}
	}
	return w.cur.list(&w.names, q)
}
