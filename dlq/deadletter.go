package dlq

import (
	"context"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
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

// DeadLetter describes a dead letter; its payload travels beside it.
type DeadLetter struct {
	Seq             uint64    `json:"seq"` // in the DLQ stream (when read back)
	OriginalSubject string    `json:"original_subject"`
	StreamSeq       uint64    `json:"stream_seq"` // in the original stream
	Tenant          string    `json:"tenant"`
	SubmissionID    string    `json:"submission_id"`
	Reason          string    `json:"reason"`
	Error           string    `json:"error"` // redacted: never the upstream's own message
	Attempts        int       `json:"attempts"`
	Deliveries      uint64    `json:"deliveries"`
	Generation      int       `json:"generation"`
	FirstFailure    time.Time `json:"first_failure,omitzero"`
	LastFailure     time.Time `json:"last_failure,omitzero"`
	Stored          time.Time `json:"stored,omitzero"` // when the dead letter was stored (when read back)
}

// MsgID is the Nats-Msg-Id that makes repeats of one failure one dead
// letter: per submission, generation and reason.
func MsgID(tenant, id string, generation int, reason string) string {
	return fmt.Sprintf("dlq.%s.%s.%d.%s", tenant, id, generation, reason)
}

// MsgIDAfterReplay is MsgID's id for a failure that follows a replay of
// dead letter replayed (0: none), with ".r<replayed>" after it. That letter
// had MsgID's id and may be gone, removed by the replay command: within
// the duplicate window the stream would drop this one as its repeat, and
// the failure would be listed nowhere.
func MsgIDAfterReplay(tenant, id string, generation int, reason string, replayed uint64) string {
	if replayed == 0 {
		return MsgID(tenant, id, generation, reason)
	}
	return fmt.Sprintf("%s.r%d", MsgID(tenant, id, generation, reason), replayed)
}

// MsgIDOfMessage is the Nats-Msg-Id of the dead letter of one message that
// has no submission record (malformed, conflicting): per stream sequence.
func MsgIDOfMessage(stream string, seq uint64) string {
	return fmt.Sprintf("dlq.%s.%d", stream, seq)
}

// PlaceholderTenant stands in the subject of a dead letter whose tenant
// cannot be read. Like PlaceholderID, it starts with '~', which no tenant
// or submission id may hold (record.ValidToken): a producer cannot name a
// submission so that its dead letters mix with these. (Letters stored
// before used '_unknown' and '_seq<N>', which can be real names.)
const PlaceholderTenant = "~unknown"

// PlaceholderID stands in the subject of a dead letter whose submission id
// cannot be read: the message's sequence in its stream.
func PlaceholderID(streamSeq uint64) string { return "~seq" + strconv.FormatUint(streamSeq, 10) }

// Publish stores a dead letter and waits for the stream's acknowledgement.
// msgID deduplicates repeats (MsgID, MsgIDOfMessage).
func Publish(ctx context.Context, js jetstream.JetStream, l layout.Layout, dl DeadLetter, payload []byte, msgID string) error {
	subjTenant, subjID := dl.Tenant, dl.SubmissionID
	if !record.ValidToken(subjTenant) {
		subjTenant = PlaceholderTenant
	}
	if !record.ValidToken(subjID) {
		subjID = PlaceholderID(dl.StreamSeq)
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

// Parse reads a dead letter's headers back.
func Parse(seq uint64, h nats.Header) DeadLetter {
	atoi := func(k string) int { n, _ := strconv.Atoi(h.Get(k)); return n }
	u64 := func(k string) uint64 { n, _ := strconv.ParseUint(h.Get(k), 10, 64); return n }
	ts := func(k string) time.Time { t, _ := time.Parse(time.RFC3339Nano, h.Get(k)); return t }
	return DeadLetter{Seq: seq, OriginalSubject: h.Get(HeaderOriginalSubject), StreamSeq: u64(HeaderStreamSeq),
		Tenant: h.Get(HeaderTenant), SubmissionID: h.Get(HeaderSubmissionID), Reason: h.Get(HeaderReason),
		Error: h.Get(HeaderError), Attempts: atoi(HeaderAttempts), Deliveries: u64(HeaderDeliveries),
		Generation: atoi(HeaderGeneration), FirstFailure: ts(HeaderFirstFailure), LastFailure: ts(HeaderLastFailure)}
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
