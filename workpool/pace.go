package workpool

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// MinAckWait is the shortest AckWait the configuration accepts for either
// pool's consumer (ISEED_TRACK_ACK_WAIT, ISEED_ACK_WAIT).
const MinAckWait = time.Second

// InProgressEvery is how often a message held for long is kept in
// progress when its consumer's AckWait is not known from the server:
// every third of the shorter of ackWait and MinAckWait (at least every
// 100 ms). Every replica makes the shared consumer with its own AckWait
// when it starts, so the consumer's may be another replica's, down to
// MinAckWait.
func InProgressEvery(ackWait time.Duration) time.Duration {
	return max(min(ackWait, MinAckWait)/3, 100*time.Millisecond)
}

const (
	// paceFresh is how old a Pace's last read may be for a hold to start
	// by it: the AckWait may have been cut while nothing was held, and
	// nothing read it. A hold that starts later is kept by
	// InProgressEvery until its first signal reads the AckWait again.
	paceFresh = time.Minute
	// paceTimeout bounds a read of the consumer's info.
	paceTimeout = 2 * time.Second
)

// consumerInfo reads a consumer's configuration from the server.
type consumerInfo interface {
	Info(ctx context.Context) (*jetstream.ConsumerInfo, error)
}

// Pace is how often the messages of one consumer held for long are kept
// in progress: every third of the consumer's AckWait, as the server has
// it, for every replica makes the shared consumer with its own when it
// starts and the last started wins. The AckWait is read while messages
// are held, at a signal once a third of it has passed since the last
// read (every 1 s to 30 s), one read at a time for all its holds; the
// period is a third of the last AckWait read (at least 100 ms). When the
// last read failed, or when it is over a minute old as a hold starts, it
// is InProgressEvery(MinAckWait), 333 ms.
//
// An AckWait cut by more than two thirds while a message is held (a
// replica started with ISEED_ACK_WAIT 5s when it was 60s) can outlast
// the signal that reads it: the message is delivered again meanwhile,
// as it is once every worker is held longer than AckWait, and handlers
// tolerate that. So can a cut that replicas configured otherwise, started
// in turn, make again after setting the AckWait back: only the last read
// counts.
//
// A nil *Pace keeps every message by InProgressEvery(MinAckWait). A Pace
// is safe for concurrent use.
type Pace struct {
	consumer consumerInfo
	now      func() time.Time

	mu      sync.Mutex
	reading bool          // a read is under way
	readAt  time.Time     // the last read began, successful or not
	ackWait time.Duration // the last read's, 0 when it failed or none was made
}

// NewPace returns the Pace of c's messages. It reads nothing until a
// message is held.
func NewPace(c jetstream.Consumer) *Pace {
	p := &Pace{now: time.Now}
	if c != nil {
		p.consumer = c
	}
	return p
}

// Every returns how often a held message is kept in progress now: a
// third of the last AckWait read, without reading it.
func (p *Pace) Every() time.Duration {
	if p == nil {
		return InProgressEvery(MinAckWait)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.every(p.now())
}

func (p *Pace) every(now time.Time) time.Duration {
	if p.ackWait <= 0 || now.Sub(p.readAt) > paceFresh {
		return InProgressEvery(MinAckWait)
	}
	return max(p.ackWait/3, 100*time.Millisecond)
}

// Refresh reads the consumer's AckWait when the last read is older than
// the period (at least 1 s, at most 30 s) and no other read is under way,
// then returns Every. A read that ctx cancels counts as none.
func (p *Pace) Refresh(ctx context.Context) time.Duration {
	if p == nil || p.consumer == nil {
		return p.Every()
	}
	p.mu.Lock()
	now := p.now()
	every := p.every(now)
	// A tenth early: the read a period ago came a little after its signal.
	reread := min(max(every, time.Second), 30*time.Second)
	if p.reading || now.Sub(p.readAt) < reread-reread/10 {
		p.mu.Unlock()
		return every
	}
	p.reading = true
	p.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, paceTimeout)
	info, err := p.consumer.Info(rctx)
	cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reading = false
	switch {
	case err != nil && ctx.Err() != nil:
	case err != nil || info == nil || info.Config.AckWait <= 0:
		p.readAt, p.ackWait = now, 0
	default:
		p.readAt, p.ackWait = now, info.Config.AckWait
	}
	return p.every(p.now())
}

// KeepInProgress tells the server that msg is still being worked on, as
// often as pace says, until stop is called; stop returns once no
// InProgress is being sent nor AckWait read. For waits that may outlast
// the AckWait: without it the message would be delivered again, to
// another worker, while this one still holds it. Work that ends within
// pace's period (333 ms when it is not known) sends nothing and reads
// nothing. Calling stop again does nothing, so that a deferred stop also
// covers a panic.
func KeepInProgress(msg jetstream.Msg, pace *Pace) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		last, every := time.Now(), pace.Every()
		for {
			// At most 30 s between reads, whatever the period: the
			// AckWait may have been cut meanwhile.
			wait := min(every-time.Since(last), 30*time.Second)
			if !Sleep(ctx, max(wait, 0)) || ctx.Err() != nil {
				return
			}
			if time.Since(last) >= every {
				_ = msg.InProgress()
				last = time.Now()
			}
			every = pace.Refresh(ctx) // Every, read again when due
		}
	})
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}
