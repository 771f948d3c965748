package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReplayHeader marks a message republished from the DLQ by an operator; its
// value is the dead letter's stream sequence.
const ReplayHeader = "Iseed-Replay-Of"

// Queue lists and replays dead letters: the operator's view of the DLQ stream.
type Queue struct {
	js     jetstream.JetStream
	layout layout.Layout
	stream jetstream.Stream
}

// NewQueue returns the operator's view of the dead-letter stream.
func NewQueue(js jetstream.JetStream, r *layout.Resources) *Queue {
	return &Queue{js: js, layout: r.Layout, stream: r.DLQ}
}

// Filter selects dead letters; empty fields match all.
type Filter struct {
	Tenant string
	Reason string
	Limit  int // 0: no limit
}

// List returns dead letters oldest first.
func (q *Queue) List(ctx context.Context, f Filter) ([]DeadLetter, error) {
	tenant := "*"
	if f.Tenant != "" {
		tenant = f.Tenant
	}
	info, err := q.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	oc, err := q.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{q.layout.DLQSubject(tenant, "*")},
	})
	if err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	var out []DeadLetter
	for {
		msg, err := oc.Next(jetstream.FetchMaxWait(2 * time.Second))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("dlq: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return out, fmt.Errorf("dlq: %w", err)
		}
		dl := Parse(meta.Sequence.Stream, msg.Headers())
		dl.Stored = meta.Timestamp
		if f.Reason == "" || dl.Reason == f.Reason {
			out = append(out, dl)
		}
		if (f.Limit > 0 && len(out) >= f.Limit) || meta.NumPending == 0 {
			return out, nil
		}
	}
}

// Replay republishes dead letter seq to its original subject, marked as a
// replay, and then removes it from the DLQ. Replaying is safe: the pipeline
// never sends a submission twice, and a failure after an unanswered POST is
// reconciled before anything is sent again.
func (q *Queue) Replay(ctx context.Context, seq uint64) error {
	raw, err := q.stream.GetMsg(ctx, seq)
	if err != nil {
		return fmt.Errorf("dlq: dead letter %d: %w", seq, err)
	}
	subject := raw.Header.Get(HeaderOriginalSubject)
	if subject == "" {
		return fmt.Errorf("dlq: dead letter %d has no %s header", seq, HeaderOriginalSubject)
	}
	m := nats.NewMsg(subject)
	m.Data = raw.Data
	m.Header.Set(ReplayHeader, strconv.FormatUint(seq, 10))
	m.Header.Set(jetstream.MsgIDHeader, "replay."+strconv.FormatUint(seq, 10))
	if _, err := q.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("dlq: replay %d: %w", seq, err)
	}
	if err := q.stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("dlq: replayed %d but could not remove it: %w", seq, err)
	}
	return nil
}
