package consumer

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// pool runs a fixed number of workers on one durable pull consumer, with a
// prefetch of one message per worker so that AckWait is spent on work, not
// in a buffer. It owns every goroutine it starts.
type pool struct {
	name     string // for logs: "submissions", "tracking"
	cons     jetstream.Consumer
	workers  int
	handle   func(ctx context.Context, msg jetstream.Msg)
	paused   func() bool   // while true, pull nothing (nil: never)
	handBack time.Duration // NakWithDelay of messages fetched but not started
	shutdown time.Duration // in-flight work gets this long after ctx is done
	log      zerolog.Logger
}

// run consumes until ctx is done, then shuts down in order: stop pulling,
// hand back what was fetched but not started, let in-flight messages finish
// within the shutdown timeout (then cancel them: they are redelivered after
// AckWait), return.
func (p *pool) run(ctx context.Context) error {
	work := make(chan jetstream.Msg)
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var wg sync.WaitGroup
	for range p.workers {
		wg.Go(func() {
			for msg := range work {
				p.handle(workCtx, msg)
			}
		})
	}
	p.fetch(ctx, work)
	close(work)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }() // ends with the workers
	select {
	case <-finished:
	case <-time.After(p.shutdown):
		p.log.Warn().Str("pool", p.name).Dur("timeout", p.shutdown).Msg("shutdown timeout: cancelling in-flight work; it will be redelivered")
		cancelWork()
		<-finished
	}
	return nil
}

func (p *pool) isPaused() bool { return p.paused != nil && p.paused() }

// fetch pulls until ctx is done, pausing while paused says so.
func (p *pool) fetch(ctx context.Context, work chan<- jetstream.Msg) {
	for ctx.Err() == nil {
		if p.isPaused() {
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		it, err := p.cons.Messages(jetstream.PullMaxMessages(p.workers))
		if err != nil {
			p.log.Error().Err(err).Str("pool", p.name).Msg("cannot pull; retrying")
			sleep(ctx, time.Second)
			continue
		}
		p.pull(ctx, it, work)
	}
}

// pull delivers from one iterator until ctx is done or the pool pauses.
func (p *pool) pull(ctx context.Context, it jetstream.MessagesContext, work chan<- jetstream.Msg) {
	stop := context.AfterFunc(ctx, it.Drain)
	defer stop()
	for {
		if p.isPaused() {
			it.Drain() // deliver what is buffered (handed back below), pull nothing more
		}
		msg, err := it.Next()
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				p.log.Warn().Err(err).Str("pool", p.name).Msg("pull interrupted")
			}
			it.Stop()
			return
		}
		if ctx.Err() != nil || p.isPaused() {
			if err := msg.NakWithDelay(p.handBack); err != nil {
				p.log.Debug().Err(err).Msg("hand back failed; the message is redelivered after AckWait")
			}
			continue
		}
		work <- msg
	}
}
