package dlq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ReplayHeader marks a message republished from the DLQ by an operator; its
// value names the dead letter and is signed (SignReplay).
const ReplayHeader = "Iseed-Replay-Of"

// ErrReplayDuplicate means the stream took a replay for a duplicate of a
// message it already had: the replay was not stored, and the dead letter
// is kept.
var ErrReplayDuplicate = errors.New("the stream reported the replay as a duplicate: not stored; the dead letter is kept")

// ErrNotRemoved means a replay was published but its dead letter could
// not be removed: it is still listed, and replaying it again reopens
// nothing (record.Record.Replays).
var ErrNotRemoved = errors.New("replayed, but the dead letter could not be removed")

// Queue lists and replays dead letters: the operator's view of the DLQ stream.
type Queue struct {
	js     jetstream.JetStream
	layout layout.Layout
	stream jetstream.Stream
	key    []byte
	msgID  func(subject string, payload []byte) string
}

// NewQueue returns the operator's view of the dead-letter stream. key signs
// replays (nil: Replay refuses); msgID names a replayed message's
// Nats-Msg-Id (nil: "replay.<random>"), and must be unguessable.
func NewQueue(js jetstream.JetStream, r *layout.Resources, key []byte, msgID func(subject string, payload []byte) string) *Queue {
	if msgID == nil {
		msgID = func(string, []byte) string { return "replay." + RandomID() }
	}
	return &Queue{js: js, layout: r.Layout, stream: r.DLQ, key: key, msgID: msgID}
}

// RandomID returns 128 random bits in hex, for unguessable message ids.
func RandomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return hex.EncodeToString(b)
}

// Filter selects dead letters; empty fields match all.
type Filter struct {
	Tenant string
	Reason string
	Since  time.Time // stored at or after
	Until  time.Time // stored at or before
	Limit  int       // 0: no limit
}

// Empty reports whether the filter selects every dead letter.
func (f Filter) Empty() bool {
	return f.Tenant == "" && f.Reason == "" && f.Since.IsZero() && f.Until.IsZero()
}

// Match reports whether dl passes the filter (Limit aside).
func (f Filter) Match(dl DeadLetter) bool {
	switch {
	case f.Tenant != "" && dl.Tenant != f.Tenant:
		return false
	case f.Reason != "" && dl.Reason != f.Reason:
		return false
	case !f.Since.IsZero() && dl.Stored.Before(f.Since):
		return false
	case !f.Until.IsZero() && dl.Stored.After(f.Until):
		return false
	}
	return true
}

// List returns dead letters oldest first.
func (q *Queue) List(ctx context.Context, f Filter) ([]DeadLetter, error) {
	cfg := q.consumerFor(f)
	info, err := q.stream.Info(ctx, jetstream.WithSubjectFilter(cfg.FilterSubjects[0]))
	if err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	if len(info.State.Subjects) == 0 || (!f.Since.IsZero() && info.State.LastTime.Before(f.Since)) {
		return nil, nil // nothing to wait for
	}
	oc, err := q.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("dlq: %w", err)
	}
	var out []DeadLetter
	pending, stalls := uint64(0), 0 // letters still to read; fetches that timed out meanwhile
	if f.Since.IsZero() {
		// Every letter on the filter's subjects is to be read.
		for _, n := range info.State.Subjects {
			pending += n
		}
	}
	for {
		msg, err := oc.Next(jetstream.FetchMaxWait(2 * time.Second))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			// Nothing (more) to read, unless the stream or the last
			// letter said there was: then the server was slow, and a
			// short list would be taken for the whole one (replay and
			// purge act on it).
			if pending == 0 {
				return out, nil
			}
			if stalls++; stalls < maxStalls {
				continue
			}
			return out, fmt.Errorf("dlq: listing stopped with %d more dead letter(s) to read: %w", pending, err)
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
		if !f.Until.IsZero() && dl.Stored.After(f.Until) {
			return out, nil // stored in order: the rest are later still
		}
		if f.Match(dl) {
			out = append(out, dl)
		}
		if (f.Limit > 0 && len(out) >= f.Limit) || meta.NumPending == 0 {
			return out, nil
		}
		pending, stalls = meta.NumPending, 0
	}
}

// maxStalls is how many fetches in a row may time out, while letters
// remain to be read, before List gives up with an error.
const maxStalls = 3

// consumerFor reads the dead letters of f's tenant from f.Since on.
func (q *Queue) consumerFor(f Filter) jetstream.OrderedConsumerConfig {
	tenant := "*"
	if f.Tenant != "" {
		tenant = f.Tenant
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{q.layout.DLQSubject(tenant, "*")}}
	if !f.Since.IsZero() {
		since := f.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	return cfg
}

// publishReplay publishes a replay. A stream that keeps one message per
// subject (tracking tasks) refuses it while the task it replaces is still
// there: the tracker dead-letters a request before it acknowledges its
// task, so an operator quick enough meets that moment. Nothing was stored:
// the publish is tried again for a while. The submissions stream refuses
// a submission's replay the same way when its tenant holds as many
// submissions as the tenant quota allows (layout.Layout.
// TenantMaxSubmissions): only the tenant's oldest ageing out makes room,
// so that refusal is returned at once.
func (q *Queue) publishReplay(ctx context.Context, m *nats.Msg) (*jetstream.PubAck, error) {
	b := backoff.WithContext(backoff.NewExponentialBackOff(backoff.WithInitialInterval(50*time.Millisecond),
		backoff.WithMaxInterval(time.Second), backoff.WithMaxElapsedTime(15*time.Second)), ctx)
	return backoff.RetryWithData(func() (*jetstream.PubAck, error) {
		ack, err := q.js.PublishMsg(ctx, m)
		full := layout.AtQuota(err)
		if tenant := q.layout.TenantOf(m.Subject); full && tenant != "" {
			return nil, backoff.Permanent(fmt.Errorf("the submissions stream holds as many of tenant %s's submissions as its quota allows: %w", tenant, err))
		}
		if full {
			return nil, err
		}
		if err != nil {
			return nil, backoff.Permanent(err)
		}
		return ack, nil
	}, b)
}

// Replay republishes dead letter seq to its original subject, marked as a
// signed replay, and then removes it from the DLQ. Replaying is safe: the
// pipeline never sends a submission twice, and a failure after an
// unanswered POST is reconciled before anything is sent again. A replay
// the stream does not store (a duplicate) fails with ErrReplayDuplicate
// and keeps the dead letter.
func (q *Queue) Replay(ctx context.Context, seq uint64) error {
	return q.ReplayWith(ctx, seq, nil)
}

// ReplayWith is Replay with payload instead of the dead letter's own (nil:
// the dead letter's): an operator's corrected submission.
func (q *Queue) ReplayWith(ctx context.Context, seq uint64, payload []byte) error {
	if len(q.key) == 0 {
		return errors.New("dlq: no replay key: replays cannot be signed")
	}
	raw, err := q.getMsg(ctx, seq)
	if err != nil {
		return err
	}
	if err := q.CheckOrigin(&Letter{DeadLetter: Parse(seq, raw.Header), Subject: raw.Subject}); err != nil {
		return fmt.Errorf("dlq: replay %d: %w", seq, err)
	}
	subject := raw.Header.Get(HeaderOriginalSubject)
	if payload == nil {
		payload = raw.Data
	}
	m := nats.NewMsg(subject)
	m.Data = payload
	m.Header.Set(ReplayHeader, SignReplay(q.key, seq, subject, payload))
	m.Header.Set(jetstream.MsgIDHeader, q.msgID(subject, payload))
	ack, err := q.publishReplay(ctx, m)
	if err != nil {
		return fmt.Errorf("dlq: replay %d: %w", seq, err)
	}
	if ack.Duplicate {
		return fmt.Errorf("dlq: replay %d: %w", seq, ErrReplayDuplicate)
	}
	// Published: the letter goes now, even if the operator interrupts
	// meanwhile, or running the command again would replay it again.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), removeTimeout)
	defer cancel()
	if err := q.stream.SecureDeleteMsg(rctx, seq); err != nil {
		// The server answers a delete of a missing message with a generic
		// failure: the letter may be gone already, removed meanwhile by an
		// operator's purge or by the tracker, which withdraws the gave_up
		// letter of a give-up the upstream's completion overrode.
		if _, gerr := q.getMsg(rctx, seq); !errors.Is(gerr, ErrNotFound) {
			return fmt.Errorf("dlq: replay %d: %w: %w", seq, ErrNotRemoved, err)
		}
	}
	return nil
}

// removeTimeout bounds the removal of a dead letter once its replay is
// published, which an interrupt does not stop.
const removeTimeout = 10 * time.Second
