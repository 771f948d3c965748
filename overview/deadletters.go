package overview

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// DeadLetters counts the dead letters in the DLQ stream by reason, reading
// each one's headers once, as it is stored (a headers-only ordered
// consumer), and keeping its sequence and reason (about 40 bytes). Dead
// letters leave the stream when replayed or when they expire; Sync finds
// them from the stream's state (its first sequence and its deleted ones),
// and a stream deleted and made anew from its creation time: the counts
// start over with the new stream.
type DeadLetters struct {
	stream    jetstream.Stream
	log       zerolog.Logger
	ready     chan struct{}
	readyOnce sync.Once

	mu sync.Mutex
	// created is when the stream the counts are of was created: a stream
	// deleted and made anew numbers its dead letters from 1 again.
	created time.Time
	last    uint64            // the last sequence counted: a new reader starts after it
	stop    func()            // stops the reader of the moment
	bySeq   map[uint64]string // reason, interned
	reasons map[string]string // interning
	counts  map[string]int
	synced  streamMark // the stream's state at the last Sync that looked at deletions
}

// streamMark is what of a stream's state changes when messages leave it.
type streamMark struct {
	first   uint64
	deleted int
}

// NewDeadLetters returns a counter of the dead letters in stream.
func NewDeadLetters(stream jetstream.Stream, log zerolog.Logger) *DeadLetters {
	return &DeadLetters{stream: stream, log: log, ready: make(chan struct{}),
		bySeq: make(map[uint64]string), reasons: make(map[string]string), counts: make(map[string]int)}
}

// Ready is closed once every dead letter stored when Run started is counted.
func (d *DeadLetters) Ready() <-chan struct{} { return d.ready }

// Run reads the headers of every dead letter, then of each new one, until
// ctx is done; it returns nil then.
func (d *DeadLetters) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := d.read(ctx)
		if ctx.Err() != nil {
			return nil
		}
		d.log.Warn().Err(err).Msg("dead-letter reader ended; reading again")
		sleep(ctx, time.Second)
	}
	return nil
}

func (d *DeadLetters) read(ctx context.Context) error {
	info, err := d.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	d.mu.Lock()
	d.follow(info.Created)
	last := d.last
	d.mu.Unlock()
	if info.State.Msgs == 0 || info.State.LastSeq <= last {
		d.markReady()
	}
	cfg := jetstream.OrderedConsumerConfig{HeadersOnly: true, DeliverPolicy: jetstream.DeliverAllPolicy}
	if last > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, last+1
	}
	oc, err := d.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	it, err := oc.Messages()
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	// The read ends with rctx: ctx done, or Sync finding the stream made
	// anew, which cancels it.
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(rctx, it.Stop)()
	d.mu.Lock()
	d.stop = cancel
	d.mu.Unlock()
	for {
		// Stopped when the read ends, and the wait ends with rctx too: a
		// Stop while nats.go makes the ordered consumer anew may miss
		// the new one's wait.
		msg, err := it.Next(jetstream.NextContext(rctx))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || rctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("dlq: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			continue
		}
		if !d.add(info.Created, meta.Sequence.Stream, msg.Headers().Get(dlq.HeaderReason)) {
			return errors.New("dlq: the stream was made anew; reading it from its start")
		}
		if meta.NumPending == 0 {
			d.markReady()
		}
	}
}

func (d *DeadLetters) markReady() { d.readyOnce.Do(func() { close(d.ready) }) }

// add counts dead letter seq of the stream created at created. It reports
// false, counting nothing, when the counts are another stream's now: the
// stream was made anew since the reader began.
func (d *DeadLetters) add(created time.Time, seq uint64, reason string) bool {
	if reason == "" {
		reason = dlq.ReasonUnknown
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !created.Equal(d.created) {
		return false
	}
	d.last = max(d.last, seq)
	if _, ok := d.bySeq[seq]; ok {
		return true
	}
	if r, ok := d.reasons[reason]; ok {
		reason = r
	} else {
		d.reasons[reason] = reason
	}
	d.bySeq[seq] = reason
	d.counts[reason]++
	return true
}

// follow makes the counts those of the stream created at created. A
// stream deleted and made anew (an operator clearing it, layout.Ensure
// making it again) numbers its dead letters from 1 again: what was counted
// of the old one is forgotten, and the new one is read from its start. It
// reports whether the stream is another than the one counted. The caller
// holds mu.
func (d *DeadLetters) follow(created time.Time) bool {
	if created.Equal(d.created) {
		return false
	}
	anew := !d.created.IsZero()
	d.created, d.last, d.synced = created, 0, streamMark{}
	clear(d.bySeq)
	clear(d.counts)
	return anew
}

// Sync forgets the dead letters that left the stream (replayed, expired,
// removed), and all of them when the stream was made anew (the reader then
// starts over from its beginning). It costs one stream info, and a second
// one listing the deleted sequences only when some left since the last
// Sync.
func (d *DeadLetters) Sync(ctx context.Context) error {
	info, err := d.stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	mark := streamMark{first: info.State.FirstSeq, deleted: info.State.NumDeleted}
	d.mu.Lock()
	var stop func()
	if d.follow(info.Created) {
		stop = d.stop // the reader reads the old stream's sequences: start it over
	}
	same := mark == d.synced && uint64(len(d.bySeq)) <= info.State.Msgs
	d.mu.Unlock()
	if stop != nil {
		stop()
	}
	if same {
		return nil
	}
	if info, err = d.stream.Info(ctx, jetstream.WithDeletedDetails(true)); err != nil {
		return fmt.Errorf("dlq: %w", err)
	}
	d.prune(info.State)
	return nil
}

// prune forgets the sequences st says are gone; those after st.LastSeq
// were stored since st was read.
func (d *DeadLetters) prune(st jetstream.StreamState) {
	gone := make(map[uint64]bool, len(st.Deleted))
	for _, s := range st.Deleted {
		gone[s] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for seq, reason := range d.bySeq {
		if seq <= st.LastSeq && (seq < st.FirstSeq || gone[seq]) {
			delete(d.bySeq, seq)
			if d.counts[reason]--; d.counts[reason] == 0 {
				delete(d.counts, reason)
			}
		}
	}
	d.synced = streamMark{first: st.FirstSeq, deleted: st.NumDeleted}
}

// Counts returns the dead letters by reason.
func (d *DeadLetters) Counts() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.counts)
}
