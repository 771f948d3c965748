package bucket

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// KeepUp is how long a watch that must see every entry may leave one
// stored since it began undelivered, having delivered nothing else
// meanwhile, before it is taken for lost. A working watch delivers a
// stored entry within milliseconds; one taken for lost by mistake is only
// watched anew.
const KeepUp = time.Second

// ErrLost is what Lag.Lost returns of a watch that delivered nothing of an
// entry stored since it began.
var ErrLost = errors.New("the watch delivered nothing of an entry stored since it began: its consumer is lost")

// A Lag tells a watch whose consumer is lost from one that has nothing to
// deliver. A KV watch is an ordered consumer; when that consumer is lost
// while the connection stays up (the cluster node that held it failed, a
// restarted server the client reconnected to), nats.go makes it again only
// when it has missed the server's heartbeats, 10 to 20 s later, and the
// watch delivers nothing meanwhile, saying nothing of it.
//
// The watch's periodic check (every Recheck) passes Stored the sequence of
// the last entry stored that the watch must deliver; when that entry was
// stored after the watch began and is not delivered yet, the Lag arms: C
// fires wait later, and Lost then says whether the watch delivered
// nothing at all meanwhile. A busy watch that is merely behind delivers
// something and is not taken for lost. The watch calls Delivered with the
// revision of every entry it delivers. A Lag is used by the watch's one
// goroutine.
type Lag struct {
	began uint64 // the last sequence stored before the watch began
	seen  uint64 // the highest revision delivered
	wait  time.Duration
	fire  <-chan time.Time // armed
	want  uint64           // armed: the last sequence stored at the check that armed it
	at    uint64           // armed: seen then
}

// NewLag returns the Lag of a watch begun when began was the last
// sequence stored (read before the watch starts: an entry stored at or
// before it may have been removed since, and is never waited for).
func NewLag(began uint64, wait time.Duration) *Lag {
	return &Lag{began: began, wait: wait}
}

// Delivered notes an entry the watch delivered.
func (l *Lag) Delivered(rev uint64) { l.seen = max(l.seen, rev) }

// Stored notes last, the sequence of the last entry stored that the watch
// must deliver, as a check read it, and arms the Lag when that entry was
// stored after the watch began and is not delivered yet.
func (l *Lag) Stored(last uint64) {
	if l.fire == nil && last > l.began && last > l.seen {
		l.fire, l.want, l.at = time.After(l.wait), last, l.seen
	}
}

// C fires wait after Stored armed the Lag; nil (never) when it is not
// armed.
func (l *Lag) C() <-chan time.Time { return l.fire }

// Lost, called when C has fired, disarms the Lag and returns an error
// wrapping ErrLost when the watch has delivered neither the entry that
// armed it nor anything else since; nil otherwise. unread is how many
// entries the watch holds that its caller has not read yet (the length of
// its updates channel): a caller busy elsewhere for longer than wait (the
// holds pass waits for its releases) has not seen them, but the watch
// delivered them.
func (l *Lag) Lost(unread int) error {
	l.fire = nil
	if unread == 0 && l.seen < l.want && l.seen == l.at {
		return fmt.Errorf("sequence %d is stored and nothing was delivered in %s (the last delivered: %d): %w", l.want, l.wait, l.seen, ErrLost)
	}
	return nil
}

// A Guard is what a watch of a whole bucket checks every Recheck: that
// the bucket is the one it began on (a bucket deleted and made anew
// numbers its entries from 1 again, and the watch goes on after the old
// bucket's last revision, delivering none of the new one's first
// entries), and, with its Lag, that it delivers what is stored.
type Guard struct {
	*Lag
	kv      jetstream.KeyValue
	created time.Time
}

// Begin reads kv's stream info once, before its watch starts, and returns
// the watch's Guard; wait is its Lag's (KeepUp unless a test says).
func Begin(ctx context.Context, kv jetstream.KeyValue, wait time.Duration) (*Guard, error) {
	created, last, err := Stat(ctx, kv)
	if err != nil {
		return nil, err
	}
	return &Guard{Lag: NewLag(last, wait), kv: kv, created: created}, nil
}

// Check reads kv's stream info once: ErrMadeAnew when kv is not the bucket
// the watch began on; otherwise nil, having armed the Lag if an entry
// stored since the watch began is not delivered yet. A bucket that cannot
// be read now is nil: the watch goes on, and its own errors say what is
// wrong.
func (g *Guard) Check(ctx context.Context) error {
	created, last, err := Stat(ctx, g.kv)
	switch {
	case err != nil:
		return nil
	case !created.Equal(g.created):
		return ErrMadeAnew
	}
	g.Stored(last)
	return nil
}
