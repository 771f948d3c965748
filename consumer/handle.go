package consumer

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
)

// finishTimeout bounds the final publishes and acks of one message, which
// run even during shutdown.
const finishTimeout = 10 * time.Second

// handle processes one message and finishes it as Decide says.
func (p *Pipeline) handle(ctx context.Context, msg jetstream.Msg) {
	j := &job{msg: msg, alive: msg, start: p.cfg.Now(), owner: fmt.Sprintf("%s/%d", p.cfg.Owner, p.jobs.Add(1))}
	meta, err := msg.Metadata()
	if err != nil {
		p.log.Error().Err(err).Msg("message without JetStream metadata: terminated")
		_ = msg.Term()
		return
	}
	j.meta = meta
	var o Outcome
	if ctx.Err() != nil {
		o = Outcome{Kind: Interrupted, Err: ctx.Err()}
	} else {
		o = p.processSafely(ctx, j)
	}
	act := Decide(o, meta.NumDelivered, p.cfg.Retry, jitter())
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := p.finish(finishCtx, j, o, act); err != nil {
		act = Decide(Outcome{Kind: Retry, Err: err}, meta.NumDelivered, p.cfg.Retry, jitter())
		if o.Err != nil {
			err = fmt.Errorf("%w; then: %w", o.Err, err)
		}
		o.Err = err
		_ = msg.NakWithDelay(act.Delay)
	}
	p.logOutcome(j, o, act)
	p.d.Metrics.outcome(o, p.cfg.Now().Sub(j.start))
}

// processSafely turns a panic into a retry, so that one poison message
// cannot stop the process; MaxDeliver ends it in the DLQ.
func (p *Pipeline) processSafely(ctx context.Context, j *job) (o Outcome) {
	defer p.turns.leave(j) // a panic in its wait
	defer func() {
		if r := recover(); r != nil {
			o = Outcome{Kind: Retry, Err: panicError(r)}
		}
	}()
	return p.process(ctx, j)
}

// panicError describes a recovered panic for the log line and the dead
// letter, as workpool does: the value only when the runtime raised it
// (an index out of range, a nil map); another one (a string, an error of
// a dependency) may quote the message's personal data, and only its type
// is named.
func panicError(r any) error {
	if re, ok := r.(runtime.Error); ok {
		return fmt.Errorf("panic: %s", re.Error())
	}
	return fmt.Errorf("panic with a value of type %T (not shown: it may quote the submission's data)", r)
}

// finish carries out an action: dead letter (stored before anything else),
// then the event and, for a submission that has its upstream request, the
// tracking task, in that order, with its ledger entry beside them
// (announce); for a dead letter of a record,
// the record read again, and both removed if it was erased meanwhile
// (withdrawIfErased); then the ack, term or nak.
func (p *Pipeline) finish(ctx context.Context, j *job, o Outcome, act Action) error {
	if act.DeadLetter {
		if err := p.deadLetter(ctx, j, o); err != nil {
			return err
		}
	}
	if err := p.announce(ctx, o, act); err != nil {
		return err
	}
	if act.DeadLetter && o.Record != nil { // erased meanwhile? (erased.go)
		id := letterID(j, o, p.deadLetterOf(j, j.msg.Subject(), o))
		if err := p.withdrawIfErased(ctx, o.Record, id, j.meta.Timestamp); err != nil {
			return err
		}
	}
	switch {
	case act.Ack:
		return j.msg.Ack()
	case act.Term:
		return j.msg.TermWithReason(o.Reason)
	default:
		return j.msg.NakWithDelay(act.Delay)
	}
}

// announce publishes the outcome's event and starts tracking a submitted
// request, the event first: tracking moves the record on and publishes
// the later states, and a redelivery re-announces "submitted" only while
// the record is still there, so an event that failed behind a started
// tracker would never go out, and one published late would come after
// "completed". The ledger entry is written beside them, in a goroutine of
// its own; the event and the tracking task in the worker's, whose stack
// has grown already (a new goroutine's would grow again for every
// submission). All are idempotent.
func (p *Pipeline) announce(ctx context.Context, o Outcome, act Action) error {
	track := act.Ack && o.Record != nil && o.Record.RequestID != ""
	var g errgroup.Group
	if track {
		g.Go(func() error { return p.spent(ctx, o.Record) })
	}
	err := func() error {
		if act.Publish {
			if err := p.d.Events.Status(ctx, *o.Event); err != nil {
				return err
			}
		}
		if track && p.d.Tracker != nil {
			return p.d.Tracker.Track(ctx, o.Record)
		}
		return nil
	}()
	return errors.Join(err, g.Wait())
}

// maxLoggedError bounds the error a log line carries, like a dead letter's.
const maxLoggedError = 1024

// logOutcome writes the one log line of a message. It names no personal
// data: ids, codes and classes only.
func (p *Pipeline) logOutcome(j *job, o Outcome, act Action) {
	lvl := zerolog.InfoLevel
	switch o.Kind {
	case Retry, Failed, Conflict:
		lvl = zerolog.WarnLevel
	case Busy, Interrupted:
		lvl = zerolog.DebugLevel
	}
	ev := p.log.WithLevel(lvl).Str("outcome", o.Kind.String()).
		Str("tenant", j.tenant).Uint64("stream_seq", j.meta.Sequence.Stream).
		Uint64("delivered", j.meta.NumDelivered).Int64("took_ms", p.cfg.Now().Sub(j.start).Milliseconds())
	if id := j.idOf(); id != "" { // a malformed message's too, as its rejected event names it
		ev = ev.Str("submission", id)
	}
	if j.withdrawal {
		ev = ev.Bool("withdrawal", true)
	}
	if r := o.Record; r != nil {
		ev = ev.Str("visengine_service", r.Service).Str("request_id", r.RequestID).Int("generation", r.Generation)
	}
	if o.Reason != "" {
		ev = ev.Str("reason", o.Reason)
	}
	if act.Nak {
		ev = ev.Int64("retry_in_ms", act.Delay.Milliseconds())
	}
	if o.Err != nil {
		ev = ev.Str("error", truncate(o.Err.Error(), maxLoggedError))
	}
	ev.Msg("submission processed")
}
