package publisher

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/internal/jsread"
	"github.com/nats-io/nats.go/jetstream"
)

// Subjects is the subject grammar of iseed's events, under a prefix
// (default "iseed"). It is the only place that spells it.
type Subjects string

// SubjectsFor returns the grammar under prefix ("" means "iseed").
func SubjectsFor(prefix string) Subjects {
	if prefix == "" {
		prefix = "iseed"
	}
	return Subjects(prefix)
}

// Status is the subject of status events of one submission; "*" for either
// part matches all.
func (s Subjects) Status(tenant, id string) string {
	return fmt.Sprintf("%s.status.%s.%s", s, tenant, id)
}

// Document is the subject of document events of one submission; "*" for
// either part matches all.
func (s Subjects) Document(tenant, id string) string {
	return fmt.Sprintf("%s.documents.%s.%s", s, tenant, id)
}

// Account is the subject of account-wide events (the wallet).
func (s Subjects) Account() string { return string(s) + ".account.wallet" }

// Of returns the subjects of every event about one submission (or, with
// "*", about a tenant or about all).
func (s Subjects) Of(tenant, id string) []string {
	return []string{s.Status(tenant, id), s.Document(tenant, id)}
}

// PurgeOf removes every event of one submission from the events stream st
// (its subjects, Of) and counts them: iseed erase, and the pipeline and
// tracking when they find the submission erased after they published.
func (s Subjects) PurgeOf(ctx context.Context, st jetstream.Stream, tenant, id string) (int, error) {
	name := st.CachedInfo().Config.Name
	n := 0
	for _, subject := range s.Of(tenant, id) {
		info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
		if err != nil {
			return n, fmt.Errorf("%s: %w", name, err)
		}
		if info.State.Subjects[subject] == 0 {
			continue
		}
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
			return n, fmt.Errorf("%s: purge %s: %w", name, subject, err)
		}
		n += int(info.State.Subjects[subject])
	}
	return n, nil
}

// SubmissionMsgID is the Nats-Msg-Id of a submission event:
// "<tenant>.<digest>", the digest the first 32 hex digits of the SHA-256 of
// "<id>.<fingerprint>". It names the tenant, so two tenants using the same
// submission id never collide in the submissions stream's duplicate window,
// and the payload, which only its producer knows, so nobody else can
// publish it first and have the real one dropped as a duplicate.
//
// It shows neither the id nor the fingerprint: every tenant publishes into
// the one submissions stream, and the server answers a publish that
// expects another last message id (Nats-Expected-Last-Msg-Id) with the
// stream's last one, whichever tenant's it is. The id is often a person's
// employee number, and a fingerprint's prefix would confirm a guessed
// payload. (The form before 2026-12-07, "<tenant>.<id>.<first 16 hex
// digits of the fingerprint>", showed both: LegacySubmissionMsgID.)
func SubmissionMsgID(tenant, id, fingerprint string) string {
	return tenant + "." + digest(id+"."+fingerprint, 32)
}

// LegacySubmissionMsgID is the earlier form of a submission's Nats-Msg-Id,
// "<tenant>.<id>.<first 16 hex digits of its fingerprint>", still accepted
// from producers: it is as safe from being published first, but any other
// tenant can read it back from the submissions stream (SubmissionMsgID).
func LegacySubmissionMsgID(tenant, id, fingerprint string) string {
	return tenant + "." + id + "." + fingerprint[:min(16, len(fingerprint))]
}

// RepublishMsgID is the Nats-Msg-Id of a submission iseed publishes again
// (an operator's replay, a held submission released, a cancelled one
// handed back): SubmissionMsgID, a dot and the first 16 hex digits of the
// SHA-256 of "<fingerprint>.<what>", what telling the publication apart
// (the same what, the same id: replicas doing the same publish store one
// message). Other tenants read these ids back too (SubmissionMsgID): what
// may carry times and revisions, which this shows no more than the id,
// and which nobody without the fingerprint can turn into the id of the
// next publication to publish it first.
func RepublishMsgID(tenant, id, fingerprint, what string) string {
	return SubmissionMsgID(tenant, id, fingerprint) + "." + digest(fingerprint+"."+what, 16)
}

// digest is the first n hex digits of the SHA-256 of s.
func digest(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

// TrackMsgID is the Nats-Msg-Id of the tracking task of one generation of
// a submission: "track.<tenant>.<id>.<generation>".
func TrackMsgID(tenant, id string, generation int) string {
	return fmt.Sprintf("track.%s.%s.%d", tenant, id, max(generation, 1))
}

// ReadEvents returns the events stored in stream for one submission,
// oldest first. Its consumer says first how many there are: none is an
// empty list at once, and a list that stops before the last (a fetch that
// failed or timed out on a loaded server, ctx done) is an error saying it
// is incomplete, with the events read so far, never a short list taken
// for the whole one. A fetch answered "no responders" (a cluster's) or
// that brings nothing is tried again, twice in a row at most
// (jsread.Read).
func ReadEvents(ctx context.Context, js jetstream.JetStream, stream string, s Subjects, tenant, id string) ([]json.RawMessage, error) {
	return ReadEventsUpTo(ctx, js, stream, s, tenant, id, 0)
}

// ReadEventsUpTo is ReadEvents reading the oldest limit events only (0:
// every one): a tenant that sends other payloads under a submission's id
// makes an event of each, as many as it likes.
func ReadEventsUpTo(ctx context.Context, js jetstream.JetStream, stream string, s Subjects, tenant, id string, limit int) ([]json.RawMessage, error) {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	var out []json.RawMessage
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: s.Of(tenant, id)}
	// A tenant may publish payloads of its own, of any size, under a
	// submission's id.
	batch := eventsBatch
	if limit > 0 {
		batch = min(batch, limit)
	}
	o := jsread.Options{Wait: fetchWait, Noun: "event(s)"}.Large(js.Conn(), batch)
	err = jsread.Read(ctx, st, cfg, o, func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
		if out = append(out, json.RawMessage(m.Data())); limit > 0 && len(out) >= limit {
			return jsread.Stop
		}
		return nil
	})
	if errors.As(err, new(*jsread.IncompleteError)) {
		return out, fmt.Errorf("events: the list is incomplete, %w", err)
	}
	if err != nil {
		return out, fmt.Errorf("events: %w", err)
	}
	return out, nil
}

// fetchWait is how long a fetch of ReadEvents waits.
const fetchWait = 500 * time.Millisecond

// eventsBatch is how many events a fetch of ReadEvents asks for, at most
// (a test sets fewer: SetEventsBatch).
var eventsBatch = 64
