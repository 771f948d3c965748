package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DLQ lists and replays dead letters.
type DLQ struct {
	js     jetstream.JetStream
	layout Layout
	stream jetstream.Stream
}

// NewDLQ returns the operator's view of the dead-letter stream.
func NewDLQ(js jetstream.JetStream, r *Resources) *DLQ {
	return &DLQ{js: js, layout: r.Layout, stream: r.DLQ}
}

// Filter selects dead letters; empty fields match all.
type Filter struct {
	Tenant string
	Reason string
	Limit  int // 0: no limit
}

// List returns dead letters oldest first.
func (d *DLQ) List(ctx context.Context, f Filter) ([]DeadLetter, error) {
	tenant := "*"
	if f.Tenant != "" {
		tenant = f.Tenant
	}
	info, err := d.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	if info.State.Msgs == 0 {
		return nil, nil
	}
	oc, err := d.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{d.layout.DLQSubject(tenant, "*")},
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
		dl := parseDeadLetter(meta.Sequence.Stream, msg.Headers())
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
func (d *DLQ) Replay(ctx context.Context, seq uint64) error {
	raw, err := d.stream.GetMsg(ctx, seq)
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
	if _, err := d.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("dlq: replay %d: %w", seq, err)
	}
	if err := d.stream.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("dlq: replayed %d but could not remove it: %w", seq, err)
	}
	return nil
}

// ListEvents returns the status and document events stored for a submission,
// oldest first.
func ListEvents(ctx context.Context, js jetstream.JetStream, l Layout, tenant, id string) ([]json.RawMessage, error) {
	st, err := js.Stream(ctx, l.EventsStream())
	if err != nil {
		return nil, err
	}
	oc, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{
		l.subject("status." + tenant + "." + id), l.subject("documents." + tenant + "." + id)}})
	if err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for {
		msg, err := oc.Next(jetstream.FetchMaxWait(500 * time.Millisecond))
		if err != nil {
			return out, nil
		}
		out = append(out, json.RawMessage(msg.Data()))
		if meta, err := msg.Metadata(); err == nil && meta.NumPending == 0 {
			return out, nil
		}
	}
}
