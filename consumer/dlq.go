package consumer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Dead-letter headers. The payload of a dead letter is the original message's.
const (
	HeaderOriginalSubject = "Iseed-Original-Subject"
	HeaderStreamSeq       = "Iseed-Stream-Seq"
	HeaderTenant          = "Iseed-Tenant"
	HeaderSubmissionID    = "Iseed-Submission-Id"
	HeaderReason          = "Iseed-Reason"
	HeaderError           = "Iseed-Error"
	HeaderAttempts        = "Iseed-Attempts"
	HeaderDeliveries      = "Iseed-Deliveries"
	HeaderFirstFailure    = "Iseed-First-Failure"
	HeaderLastFailure     = "Iseed-Last-Failure"
	HeaderGeneration      = "Iseed-Generation"
)

// maxHeaderError bounds the error text carried in a header.
const maxHeaderError = 1024

// deadLetter stores a copy of the message in the DLQ and waits for the
// stream's acknowledgement. Its Nats-Msg-Id makes repeats of the same
// failure one dead letter.
func (p *Pipeline) deadLetter(ctx context.Context, j *job, o Outcome) error {
	dl := p.deadLetterOf(j, j.msg.Subject(), o)
	msgID := fmt.Sprintf("dlq.%s.%d", j.meta.Stream, j.meta.Sequence.Stream)
	if o.Record != nil && o.Kind != Conflict { // one dead letter per submission, generation and reason
		msgID = fmt.Sprintf("dlq.%s.%s.%d.%s", dl.Tenant, dl.SubmissionID, dl.Generation, o.Reason)
	}
	return publishDeadLetter(ctx, p.d.Publisher, p.layout, dl, j.msg.Data(), msgID)
}

// deadLetterOf describes the dead letter of a job's message.
func (p *Pipeline) deadLetterOf(j *job, subject string, o Outcome) DeadLetter {
	now := p.cfg.Now()
	dl := DeadLetter{
		OriginalSubject: subject, StreamSeq: j.meta.Sequence.Stream, Tenant: j.tenant,
		Reason: o.Reason, Deliveries: j.meta.NumDelivered, FirstFailure: now, LastFailure: now, Generation: 1,
	}
	if j.sub != nil {
		dl.SubmissionID = j.sub.ID
	} else if j.msg != nil {
		dl.SubmissionID = PeekID(j.msg.Data())
	}
	if o.Err != nil {
		dl.Error = o.Err.Error()
	}
	if r := o.Record; r != nil {
		dl.Attempts, dl.Generation = r.Attempts, r.Generation
		if !r.FirstFailure.IsZero() {
			dl.FirstFailure = r.FirstFailure
		}
	}
	return dl
}

// DeadLetter describes a dead letter; its payload travels beside it.
type DeadLetter struct {
	Seq             uint64 // in the DLQ stream (when read back)
	OriginalSubject string
	StreamSeq       uint64 // in the submissions stream
	Tenant          string
	SubmissionID    string
	Reason          string
	Error           string
	Attempts        int
	Deliveries      uint64
	Generation      int
	FirstFailure    time.Time
	LastFailure     time.Time
}

func publishDeadLetter(ctx context.Context, js jetstream.JetStream, l Layout, dl DeadLetter, payload []byte, msgID string) error {
	subjTenant, subjID := dl.Tenant, dl.SubmissionID
	if !ValidToken(subjTenant, maxIDLen) {
		subjTenant = "_unknown"
	}
	if !ValidToken(subjID, maxIDLen) {
		subjID = "_seq" + strconv.FormatUint(dl.StreamSeq, 10)
	}
	m := nats.NewMsg(l.DLQSubject(subjTenant, subjID))
	m.Data = payload
	h := m.Header
	h.Set(jetstream.MsgIDHeader, msgID)
	h.Set(HeaderOriginalSubject, dl.OriginalSubject)
	h.Set(HeaderStreamSeq, strconv.FormatUint(dl.StreamSeq, 10))
	h.Set(HeaderTenant, dl.Tenant)
	h.Set(HeaderSubmissionID, dl.SubmissionID)
	h.Set(HeaderReason, dl.Reason)
	h.Set(HeaderError, truncate(dl.Error, maxHeaderError))
	h.Set(HeaderAttempts, strconv.Itoa(dl.Attempts))
	h.Set(HeaderDeliveries, strconv.FormatUint(dl.Deliveries, 10))
	h.Set(HeaderGeneration, strconv.Itoa(dl.Generation))
	h.Set(HeaderFirstFailure, dl.FirstFailure.UTC().Format(time.RFC3339Nano))
	h.Set(HeaderLastFailure, dl.LastFailure.UTC().Format(time.RFC3339Nano))
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

// parseDeadLetter reads a dead letter's headers back.
func parseDeadLetter(seq uint64, h nats.Header) DeadLetter {
	atoi := func(k string) int { n, _ := strconv.Atoi(h.Get(k)); return n }
	u64 := func(k string) uint64 { n, _ := strconv.ParseUint(h.Get(k), 10, 64); return n }
	ts := func(k string) time.Time { t, _ := time.Parse(time.RFC3339Nano, h.Get(k)); return t }
	return DeadLetter{Seq: seq, OriginalSubject: h.Get(HeaderOriginalSubject), StreamSeq: u64(HeaderStreamSeq),
		Tenant: h.Get(HeaderTenant), SubmissionID: h.Get(HeaderSubmissionID), Reason: h.Get(HeaderReason),
		Error: h.Get(HeaderError), Attempts: atoi(HeaderAttempts), Deliveries: u64(HeaderDeliveries),
		Generation: atoi(HeaderGeneration), FirstFailure: ts(HeaderFirstFailure), LastFailure: ts(HeaderLastFailure)}
}
