package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/workpool"
	"github.com/nats-io/nats.go/jetstream"
)

// Tally keeps the total of the current period's entries (of every tenant,
// "spent today" for a dashboard) by following the ledger stream as entries
// are stored: reading them costs the same as writing them, spread over
// time. Report, called every few seconds, would read the whole day each
// time (100,000 entries on an onboarding day), and reading only what is
// new at each refresh still comes in bursts that stall the daemon's other
// work.
//
// Entries are never changed once stored (one per request, DiscardNew), so
// the running sum is exact. When the period ends, the Tally starts over
// from ReadSlack before the next period's start, as Entries does; a read
// that fails starts over too.
//
// A ledger stream deleted and made anew numbers its entries from 1 again,
// and the follow (an ordered consumer, which recreates itself after a
// missed heartbeat) goes on after the old stream's last sequence: it
// would never deliver the new stream's first entries, and would keep
// counting the old ones, gone with it. The follow therefore checks every
// bucket.Recheck, with one stream info, that the stream is the one it began
// with, and starts over when it is not.
type Tally struct {
	l      *Ledger
	period func(now time.Time) money.Period
	now    func() time.Time

	mu       sync.Mutex
	cur      money.Period
	caught   bool // every entry stored when the follow began has been read
	requests int
	amount   money.Cents
}

// ErrTallyNotReady is returned by Tally.Total until the Tally has read the
// current period's entries stored before it began following.
var ErrTallyNotReady = errors.New("ledger: the running total is not ready yet")

// NewTally returns a Tally of the periods period gives (money.Day in
// Europe/Rome for "today"), on the ledger's clock. Run it.
func (l *Ledger) NewTally(period func(now time.Time) money.Period) *Tally {
	return &Tally{l: l, period: period, now: l.cfg.Now}
}

// Total returns the number and amount of the current period's entries,
// or ErrTallyNotReady.
func (t *Tally) Total() (requests int, amount money.Cents, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.caught || !t.cur.Contains(t.now()) {
		return 0, 0, ErrTallyNotReady
	}
	return t.requests, t.amount, nil
}

// Run follows the stream until ctx is done.
func (t *Tally) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		p := t.period(t.now())
		err := t.follow(ctx, p)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			workpool.Sleep(ctx, time.Second) // then start over
		}
	}
	return nil
}

// follow counts the entries of p until p ends, ctx is done or the read
// fails.
func (t *Tally) follow(ctx context.Context, p money.Period) error {
	t.mu.Lock()
	t.cur, t.caught, t.requests, t.amount = p, false, 0, 0
	t.mu.Unlock()
	info, err := t.l.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("ledger: follow: %w", err)
	}
	cons, err := t.l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{Subject(t.l.cfg.Prefix, "*", "*")},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy, OptStartTime: new(p.From.Add(-ReadSlack)),
	})
	if err != nil {
		return fmt.Errorf("ledger: follow: %w", err)
	}
	backlog := cons.CachedInfo().NumPending // stored when the follow began
	if backlog == 0 {
		t.setCaught()
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("ledger: follow: %w", err)
	}
	defer it.Stop()
	// The follow ends with fctx: ctx done, the period's end or the stream
	// made anew, each of which cancels it.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(fctx, it.Stop)
	defer stop()
	end := time.AfterFunc(max(p.To.Sub(t.now()), 0), cancel) // the next period starts over
	defer end.Stop()
	var anew atomic.Bool
	var wg sync.WaitGroup
	checked := make(chan struct{})
	defer wg.Wait()
	defer close(checked)
	wg.Go(func() {
		if t.madeAnew(ctx, info.Created, checked) {
			anew.Store(true)
			cancel()
		}
	})
	for read := uint64(0); ; {
		// Stopped when the follow ends, and the wait ends with fctx too:
		// a Stop while nats.go makes the ordered consumer anew may miss
		// the new one's wait.
		m, err := it.Next(jetstream.NextContext(fctx))
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) || fctx.Err() != nil {
			if anew.Load() {
				return errors.New("ledger: follow: the stream was made anew")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("ledger: follow: %w", err)
		}
		read++
		if e, ok := t.l.entryOf(m.Subject(), m.Data()); ok && p.Contains(e.At) {
			t.mu.Lock()
			t.requests, t.amount = t.requests+1, t.amount+e.Price
			t.mu.Unlock()
		}
		if read == backlog {
			t.setCaught()
		}
	}
}

// madeAnew checks every bucket.Recheck whether the stream is still the one
// created at created, and returns true when it is not; false when ctx is
// done or done is closed.
func (t *Tally) madeAnew(ctx context.Context, created time.Time, done <-chan struct{}) bool {
	check := time.NewTicker(bucket.Recheck)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-done:
			return false
		case <-check.C:
			if info, err := t.l.stream.Info(ctx); err == nil && !info.Created.Equal(created) {
				return true
			}
		}
	}
}

func (t *Tally) setCaught() {
	t.mu.Lock()
	t.caught = true
	t.mu.Unlock()
}
