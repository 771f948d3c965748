package workpool

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Pool runs a fixed number of workers on one durable pull consumer, with a
// prefetch of one message per worker so that AckWait is spent on work, not
// in a buffer. It owns every goroutine it starts.
type Pool struct {
	Name     string // for logs: "submissions", "tracking"
	Consumer jetstream.Consumer
	Workers  int
	Handle   func(ctx context.Context, msg jetstream.Msg) // returns soon once ctx is cancelled; waits that need not finish use Stopping(ctx)
	Paused   func() bool                                  // while true, pull nothing (nil: never)
	HandBack time.Duration                                // NakWithDelay of messages fetched but not started
	Shutdown time.Duration                                // in-flight work gets this long after ctx is done
	// Calm, when between 1 and Workers, is how many messages are handled at
	// once while the consumer has no backlog (the message's NumPending is at
	// most Calm): all Workers only while messages wait on the server, where
	// more in flight share system calls; fewer, under a light load, finish
	// the first of a burst sooner. (0: always Workers.)
	Calm   int
	Logger zerolog.Logger

	mu     sync.Mutex
	active int
	freed  chan struct{}
}

// pullExpiry bounds each pull request, and with it the idle heartbeat
// (half of it): a request the server no longer holds while the client still
// counts on it, seen after a tracker restart (the iterator waiting in Next,
// the consumer with messages pending and no waiting request), is noticed
// as a missed heartbeat within 2 × 2.5 s and a new iterator pulls, instead
// of after nats.go's default 30 s (TestPoolRecoversFromALostPullRequest).
const pullExpiry = 5 * time.Second

// Run consumes until ctx is done, then shuts down in order: stop pulling,
// hand back what was fetched but not started (it is never started), let
// in-flight messages finish within the shutdown timeout counted from the
// moment ctx is done (then cancel them: they are redelivered after
// AckWait), return. So Run returns within Shutdown of ctx being done, plus
// what the handlers take to return once their context is cancelled.
func (p *Pool) Run(ctx context.Context) error {
	work := make(chan jetstream.Msg)
	p.freed = make(chan struct{}, 1)
	workCtx, cancelWork := context.WithCancel(context.WithValue(context.WithoutCancel(ctx), stoppingKey{}, ctx))
	defer cancelWork()
	var wg sync.WaitGroup
	for range p.Workers {
		wg.Go(func() { p.work(ctx, workCtx, work) })
	}
	finished := make(chan struct{})
	var watch sync.WaitGroup
	watch.Go(func() { p.cancelAfterShutdown(ctx, finished, cancelWork) })
	p.fetch(ctx, work)
	close(work)
	wg.Wait()
	close(finished)
	watch.Wait()
	return nil
}

// work handles messages until work is closed. A message received once
// shutdown has begun was fetched before it and is handed back, never
// started: the pull loop may lose the race between ctx and a free worker.
func (p *Pool) work(ctx, workCtx context.Context, work <-chan jetstream.Msg) {
	for msg := range work {
		if ctx.Err() != nil {
			p.handBack(msg)
		} else {
			p.handle(workCtx, msg)
		}
		p.release()
	}
}

// admit waits until msg may start: fewer than Workers handled, and fewer
// than Calm while the consumer has no backlog. It reports false when ctx
// ends first. The server counts a burst's messages as pending a moment
// after storing them, so the first of a burst may start at Calm's pace;
// the next ones see the backlog.
func (p *Pool) admit(ctx context.Context, msg jetstream.Msg) bool {
	limit := p.Workers
	if p.Calm > 0 && p.Calm < p.Workers {
		if md, err := msg.Metadata(); err == nil && md.NumPending <= uint64(p.Calm) {
			limit = p.Calm
		}
	}
	for {
		p.mu.Lock()
		if p.active < limit {
			p.active++
			p.mu.Unlock()
			return true
		}
		p.mu.Unlock()
		select {
		case <-p.freed:
		case <-ctx.Done():
			return false
		}
	}
}

// release ends a handled message's turn.
func (p *Pool) release() {
	p.mu.Lock()
	p.active--
	p.mu.Unlock()
	select {
	case p.freed <- struct{}{}:
	default:
	}
}

// handle runs Handle on msg, surviving a panic: a poison message (a
// tracking task is redelivered for ever) would otherwise end the process,
// every pool in it, and then each replica it is redelivered to. The
// message is left as it is, redelivered after AckWait. The panic's value
// is logged only when the runtime raised it: another may quote the
// message's personal data.
func (p *Pool) handle(ctx context.Context, msg jetstream.Msg) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		ev := p.Logger.Error().Str("pool", p.Name).Str("stack", string(debug.Stack()))
		if re, ok := r.(runtime.Error); ok {
			ev = ev.Str("panic", re.Error())
		} else {
			ev = ev.Str("panic_type", fmt.Sprintf("%T", r))
		}
		ev.Msg("handler panicked; the message is redelivered after AckWait")
	}()
	p.Handle(ctx, msg)
}

// cancelAfterShutdown cancels in-flight work Shutdown after ctx is done,
// unless it finished first. The timeout counts from ctx, not from when
// fetching stops, so that handing back cannot lengthen it.
func (p *Pool) cancelAfterShutdown(ctx context.Context, finished <-chan struct{}, cancel context.CancelFunc) {
	select {
	case <-finished:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(p.Shutdown)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		p.Logger.Warn().Str("pool", p.Name).Dur("timeout_ms", p.Shutdown).Msg("shutdown timeout: cancelling in-flight work; it will be redelivered")
		cancel()
	}
}

// handBack returns a message fetched but not started to the stream.
func (p *Pool) handBack(msg jetstream.Msg) {
	if err := msg.NakWithDelay(p.HandBack); err != nil {
		p.Logger.Debug().Err(err).Msg("hand back failed; the message is redelivered after AckWait")
	}
}

func (p *Pool) isPaused() bool { return p.Paused != nil && p.Paused() }

// fetch pulls until ctx is done, pausing while paused says so.
func (p *Pool) fetch(ctx context.Context, work chan<- jetstream.Msg) {
	for ctx.Err() == nil {
		if p.isPaused() {
			Sleep(ctx, 200*time.Millisecond)
			continue
		}
		it, err := p.Consumer.Messages(jetstream.PullMaxMessages(p.Workers), jetstream.PullExpiry(pullExpiry))
		if err != nil {
			p.Logger.Error().Err(err).Str("pool", p.Name).Msg("cannot pull; retrying")
			Sleep(ctx, time.Second)
			continue
		}
		p.pull(ctx, it, work)
	}
}

// pull delivers from one iterator until ctx is done or the pool pauses.
func (p *Pool) pull(ctx context.Context, it jetstream.MessagesContext, work chan<- jetstream.Msg) {
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	for {
		if p.isPaused() {
			it.Drain() // deliver what is buffered (handed back below), pull nothing more
		}
		msg, err := it.Next()
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				p.Logger.Warn().Err(err).Str("pool", p.Name).Msg("pull interrupted")
			}
			it.Stop()
			return
		}
		if ctx.Err() != nil || p.isPaused() {
			p.handBack(msg)
			continue
		}
		if !p.admit(ctx, msg) {
			p.handBack(msg)
			continue
		}
		select {
		case work <- msg:
		case <-ctx.Done(): // waiting for a free worker when shutdown began: never start it
			p.release()
			p.handBack(msg)
		}
	}
}

// stoppingKey keys the context whose end begins a pool's shutdown in the
// context its handlers get (Stopping).
type stoppingKey struct{}

// Stopping returns a context that ends with ctx and, when ctx is a
// handler's, as soon as its pool's shutdown begins, not Shutdown later:
// for what a handler only waits for (a token of the upstream budget, a
// pause between tries), which a graceful shutdown need not wait out. The
// handler's own ctx still runs until Shutdown, for the work that must
// finish. Call stop when done with it.
func Stopping(ctx context.Context) (stopping context.Context, stop context.CancelFunc) {
	begun, ok := ctx.Value(stoppingKey{}).(context.Context)
	if !ok {
		return context.WithCancel(ctx)
	}
	stopping, cancel := context.WithCancel(ctx)
	unhook := context.AfterFunc(begun, cancel)
	return stopping, func() { unhook(); cancel() }
}

// ShuttingDown reports whether ctx is done or, when ctx is a handler's,
// its pool's shutdown has begun: a wait on Stopping that ended for that
// reason is a hand-back, not a failure.
func ShuttingDown(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	begun, ok := ctx.Value(stoppingKey{}).(context.Context)
	return ok && begun.Err() != nil
}

// Sleep waits d or until ctx is done; it reports whether d elapsed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
