package consumer

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// Kind classifies what processing one message came to.
type Kind int

// The outcomes of processing a message.
const (
	// Done: the submission is settled (submitted now or before, or an
	// earlier rejection or failure re-announced). Ack.
	Done Kind = iota + 1
	// Rejected: invalid input; nothing was sent upstream. Dead letter, then Term.
	Rejected
	// Conflict: the id is known with another payload; nothing was sent.
	// Dead letter, conflict event, then Term.
	Conflict
	// Failed: cannot succeed (permanent upstream error, ambiguous, too old,
	// out of deliveries; an empty wallet is a Retry that stops pulling).
	// Dead letter, then Term.
	Failed
	// Retry: transient trouble (upstream, NATS). NakWithDelay, growing with deliveries.
	Retry
	// Busy: another worker holds the submission's lease. NakWithDelay, growing
	// with deliveries, never past the lease's end.
	Busy
	// Interrupted: shutdown came before the work could start or finish. NakWithDelay, short.
	Interrupted
	// Held: a spending cap holds the submission back; RunHolds sends it
	// again when the caps allow. Publish the held event, then Ack.
	Held
	// Duplicate: a copy of a submission a delivery of another message is
	// handling (copyOfAnother); that delivery announces what it does. Ack.
	Duplicate
)

// String returns the outcome's name, as logs and metrics label it.
func (k Kind) String() string {
	switch k {
	case Done:
		return "done"
	case Rejected:
		return "rejected"
	case Conflict:
		return "conflict"
	case Failed:
		return "failed"
	case Retry:
		return "retry"
	case Busy:
		return "busy"
	case Interrupted:
		return "interrupted"
	case Held:
		return "held"
	case Duplicate:
		return "duplicate"
	default:
		return "unknown"
	}
}

// Outcome is the result of processing one message.
type Outcome struct {
	Kind   Kind
	Reason string        // dead-letter reason (Rejected, Conflict, Failed)
	Err    error         // what went wrong, for logs and dead-letter headers
	Delay  time.Duration // Retry, Busy: the least delay (Retry-After, lease end)
	Event  *publisher.Status
	Record *record.Record // the record as it stands, when there is one
}

// Action is what to do with the message.
type Action struct {
	DeadLetter bool          // store a copy in the DLQ (acknowledged) first
	Publish    bool          // publish Outcome.Event (before settling the message)
	Ack        bool          // settle: done
	Term       bool          // settle: never redeliver
	Nak        bool          // redeliver after Delay
	Delay      time.Duration // for Nak
}

// RetryPolicy shapes the delays of redelivered messages.
type RetryPolicy struct {
	MinDelay    time.Duration // first NakWithDelay (default 1s)
	MaxDelay    time.Duration // cap (default 10m)
	Interrupted time.Duration // hand-back delay at shutdown (default 1s)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MinDelay <= 0 {
		p.MinDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 10 * time.Minute
	}
	if p.MaxDelay < p.MinDelay {
		p.MaxDelay = p.MinDelay
	}
	if p.Interrupted <= 0 {
		p.Interrupted = time.Second
	}
	return p
}

// Decide is the one place that maps an outcome to the fate of its message.
// delivered is the message's delivery count (1 for the first delivery);
// jitter in [0,1) spreads retries.
func Decide(o Outcome, delivered uint64, p RetryPolicy, jitter float64) Action {
	p = p.withDefaults()
	switch o.Kind {
	case Done, Held, Duplicate:
		return Action{Publish: o.Event != nil, Ack: true}
	case Rejected, Failed:
		return Action{DeadLetter: true, Publish: o.Event != nil, Term: true}
	case Conflict:
		return Action{DeadLetter: true, Publish: o.Event != nil, Term: true}
	case Busy: // look again soon (the holder may finish early), never later than the lease's end
		return Action{Nak: true, Delay: max(p.MinDelay, min(o.Delay, retryDelay(delivered, p, jitter)))}
	case Interrupted:
		return Action{Nak: true, Delay: p.Interrupted}
	default: // Retry, and anything unforeseen: never lose the message
		return Action{Nak: true, Delay: max(o.Delay, retryDelay(delivered, p, jitter))}
	}
}

// DeliveriesFor is how many deliveries a message needs to outlast maxAge
// when redeliveries back off as Decide makes them: from MinDelay, doubling,
// to MaxDelay, with up to 20 % jitter below each delay. The submissions
// consumer's MaxDeliver must be at least this, or transient trouble would
// dead-letter a message before it expires.
func (p RetryPolicy) DeliveriesFor(maxAge time.Duration) int {
	p = p.withDefaults()
	ramp := 1
	for d := p.MinDelay; d < p.MaxDelay; d *= 2 {
		ramp++
	}
	return ramp + int(math.Ceil(float64(maxAge)/(0.8*float64(p.MaxDelay))))
}

// retryDelay grows exponentially with deliveries, capped, with ±20 % jitter.
func retryDelay(delivered uint64, p RetryPolicy, jitter float64) time.Duration {
	d := p.MinDelay
	for i := uint64(1); i < delivered && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	return time.Duration(float64(d) * (0.8 + 0.4*jitter))
}

// jitter returns a fresh random factor for Decide.
func jitter() float64 { return rand.Float64() }
