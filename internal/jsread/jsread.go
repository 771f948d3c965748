// Package jsread reads a JetStream stream, or the subjects a filter
// selects, to the end it knows of when the read begins, through an ordered
// consumer: iseed's bounded reads (a submission's events, a list of dead
// letters, the ledger's entries, a pass of the records scrub, iseed
// erase's search of the submissions stream).
//
// Contract:
//   - Read makes the ordered consumer, reads as many messages as it had
//     pending when it was made (fewer when some leave meanwhile: a
//     message's NumPending of 0 is the end), in stream order, and deletes
//     the consumer it used last (each fetch of an ordered consumer makes a
//     new one, which the client deletes the one before for).
//   - The fetches wait on their own (Options.Wait), not on ctx: Read looks
//     at ctx between fetches, and stops there when it is done.
//   - On a cluster a fetch's new consumer may not be known yet on the
//     client's server, which answers "no responders"
//     (nats.ErrNoResponders); the next fetch makes another, from where the
//     last one stopped. A fetch that brings nothing while messages are
//     pending (a loaded server, a lost pull) is a stall. Options.Tries
//     fetches in a row may do either; one more ends the read.
//   - A read that stops before its end for any reason but its caller's
//     (Stop, an error of Func) is an *IncompleteError that says how many
//     messages were left unread, never a short read taken for the whole
//     one.
//   - The ordered consumer tries to make its consumer anew a bounded
//     number of times (MaxResetAttempts 3 unless the caller sets it): by
//     default it tries for ever, whatever ctx says, and a stream deleted
//     during a read hung the reader.
package jsread

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Options.
const (
	DefaultWait  = 2 * time.Second
	DefaultTries = 3
)

// Options tune a Read; the zero value asks for one message per fetch,
// waits DefaultWait for it, and allows DefaultTries fetches in a row
// without a message.
type Options struct {
	// Batch is how many messages a fetch asks for, at most (default 1). A
	// fetch never asks for more than are pending: one that cannot fill
	// waits its whole Wait.
	Batch int
	// MaxBytes, when above 0, bounds the bytes of a fetch's messages
	// (subjects and headers included; FetchMaxBytes), for messages too
	// large to fetch Batch of at once. It must exceed the largest message
	// (the server's max_payload, and a little for subject and headers): a
	// fetch never delivers a message larger, and the read would stall on it.
	MaxBytes int
	// Wait bounds each fetch (default DefaultWait).
	Wait time.Duration
	// Tries is how many fetches in a row may be answered "no responders"
	// or bring nothing while messages are pending; the next such one ends
	// the read (default DefaultTries).
	Tries int
	// Noun names the messages in an IncompleteError, plural (default
	// "message(s)").
	Noun string
}

// Large is o reading batch messages a fetch that may each be as large as
// nc's server allows (max_payload): each fetch of an ordered consumer
// makes a consumer of its own (on a cluster through its meta leader), so
// not one a message, but a fetch brings at most twice max_payload bytes
// (MaxBytes: more than the largest message). Without nc, or its
// max_payload, one message a fetch.
func (o Options) Large(nc *nats.Conn, batch int) Options {
	if nc == nil || nc.MaxPayload() <= 0 {
		o.Batch, o.MaxBytes = 1, 0
		return o
	}
	o.Batch, o.MaxBytes = batch, 2*int(nc.MaxPayload())
	return o
}

func (o Options) withDefaults() Options {
	o.Batch = max(o.Batch, 1)
	if o.Wait <= 0 {
		o.Wait = DefaultWait
	}
	if o.Tries <= 0 {
		o.Tries = DefaultTries
	}
	if o.Noun == "" {
		o.Noun = "message(s)"
	}
	return o
}

// Func is called with each message read, in stream order, and its
// metadata. It returns Stop to end the read there (Read returns nil);
// any other error ends the read and is Read's.
type Func func(m jetstream.Msg, meta *jetstream.MsgMetadata) error

// Stop is returned by a Func to end the read early: a limit reached, a
// message past the caller's end.
var Stop = errors.New("jsread: stop")

// IncompleteError is a read that stopped before its end.
type IncompleteError struct {
	Unread uint64 // messages known to be left unread
	Noun   string // Options.Noun
	Err    error  // why it stopped
}

func (e *IncompleteError) Error() string {
	return fmt.Sprintf("stopped with %d more %s to read: %v", e.Unread, e.Noun, e.Err)
}

func (e *IncompleteError) Unwrap() error { return e.Err }

// ErrStalled is the cause of an IncompleteError whose last fetches
// brought nothing while messages were pending.
var ErrStalled = errors.New("no message came within the fetch's wait")

// Read reads st through an ordered consumer made with cfg to the end it
// knows of when it begins, calling each for every message; see the
// package's contract. An error making the consumer is returned as it is.
func Read(ctx context.Context, st jetstream.Stream, cfg jetstream.OrderedConsumerConfig, o Options, each Func) error {
	if cfg.MaxResetAttempts == 0 {
		cfg.MaxResetAttempts = 3
	}
	oc, err := st.OrderedConsumer(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() { // an ephemeral consumer goes by itself, but not for minutes
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if info := oc.CachedInfo(); info != nil {
			_ = st.DeleteConsumer(ctx, info.Name)
		}
	}()
	var left uint64
	if info := oc.CachedInfo(); info != nil {
		left = info.NumPending
	}
	r := reader{o: o.withDefaults(), oc: oc, budget: left, left: left}
	err = r.run(ctx, each)
	if errors.Is(err, Stop) {
		return nil
	}
	return err
}

// reader is one Read under way.
type reader struct {
	o      Options
	oc     jetstream.Consumer
	budget uint64 // messages still to read of those pending when the read began
	left   uint64 // messages known to be left: at most budget
}

// run fetches until nothing is left, each stops, or a fetch fails.
func (r *reader) run(ctx context.Context, each Func) error {
	for misses := 0; r.left > 0; {
		if err := ctx.Err(); err != nil {
			return r.incomplete(err)
		}
		n, err := r.fetch(each)
		switch {
		case n > 0 && err == nil:
			misses = 0
			continue
		case n == 0 && err == nil:
			err = fmt.Errorf("%w (%s)", ErrStalled, r.o.Wait)
		case !errors.Is(err, nats.ErrNoResponders):
			return err
		}
		if misses++; misses >= r.o.Tries {
			return r.incomplete(err)
		}
	}
	return nil
}

// fetch fetches one batch and hands its messages to each. It returns how
// many it read and why it stopped short: each's error, "no responders",
// or an IncompleteError.
func (r *reader) fetch(each Func) (int, error) {
	opts := []jetstream.FetchOpt{jetstream.FetchMaxWait(r.o.Wait)}
	if r.o.MaxBytes > 0 {
		opts = append(opts, jetstream.FetchMaxBytes(r.o.MaxBytes))
	}
	batch, err := r.oc.Fetch(int(min(uint64(r.o.Batch), r.left)), opts...)
	if errors.Is(err, nats.ErrNoResponders) {
		return 0, err
	}
	if err != nil {
		return 0, r.incomplete(err)
	}
	n := 0
	for m := range batch.Messages() {
		meta, err := m.Metadata()
		if err != nil {
			return n, r.incomplete(err)
		}
		n++
		r.budget = max(r.budget, 1) - 1 // a fetch asks for no more than left, at most budget
		r.left = min(meta.NumPending, r.budget)
		if err := each(m, meta); err != nil {
			return n, err
		}
	}
	switch err := batch.Error(); {
	case err == nil || errors.Is(err, nats.ErrTimeout) || errors.Is(err, jetstream.ErrNoMessages):
		return n, nil
	case errors.Is(err, nats.ErrNoResponders) && n == 0:
		return 0, err
	default:
		return n, r.incomplete(err)
	}
}

func (r *reader) incomplete(err error) error {
	return &IncompleteError{Unread: r.left, Noun: r.o.Noun, Err: err}
}
