package consumer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/nats-io/nats.go"
)

// replayOf returns the dead-letter sequence an operator's signed replay
// names in its header; 0 when the message is not a replay. forged is true
// when the header is there but its signature does not hold (anyone who may
// publish on the subject can set a header; only an operator can sign it):
// the message is then taken as an ordinary one. The message is a
// delivery's, or the one a max-deliveries advisory names (read back from
// the stream).
func (p *Pipeline) replayOf(subject string, h nats.Header, data []byte) (seq uint64, forged bool) {
	v := h.Get(dlq.ReplayHeader)
	if v == "" {
		return 0, false
	}
	seq, ok := dlq.VerifyReplay(p.cfg.ReplayKey, v, subject, data)
	return seq, !ok
}

// correctionOf reports whether the replay of dead letter seq (0: not a
// replay) is marked a correction (dlq.CorrectionHeader, signed with the
// replay key): an operator asked explicitly that its payload take the
// place of the recorded one. A replay without the mark is a plain one:
// iseed dlq replay and the console's replay, and every replay of a binary
// older than the mark, corrections included.
func (p *Pipeline) correctionOf(seq uint64, subject string, h nats.Header, data []byte) bool {
	return seq != 0 && dlq.VerifyCorrection(p.cfg.ReplayKey, h.Get(dlq.CorrectionHeader), seq, subject, data)
}

// tenantAskedOf reports whether the replay of dead letter seq (0: not a
// replay) is marked as one the tenant asked for (dlq.TenantAskedHeader,
// signed with the replay key): iseed dlq replay --tenant-asked.
func (p *Pipeline) tenantAskedOf(seq uint64, subject string, h nats.Header, data []byte) bool {
	return seq != 0 && dlq.VerifyTenantAsked(p.cfg.ReplayKey, h.Get(dlq.TenantAskedHeader), seq, subject, data)
}

// ReplayMsgID returns the Nats-Msg-Id function of dlq.NewQueue for the
// layout l: a replayed submission gets the id its producer would give it
// followed by the token's part (publisher.RepublishMsgID of "r<token>", the
// letter's token from dlq.ReplayToken), anything else "replay.<token>".
// Both are unguessable, so nobody can publish one first
// and have the replay dropped as a duplicate; and two replays of one
// letter with one payload have one id, so the stream stores one of them.
func ReplayMsgID(l layout.Layout) func(subject string, payload []byte, token string) string {
	return func(subject string, payload []byte, token string) string {
		tenant := l.TenantOf(subject)
		if sub, err := DecodeSubmission(payload); err == nil && record.ValidToken(tenant) {
			return publisher.RepublishMsgID(tenant, sub.ID, sub.Fingerprint(), "r"+token)
		}
		return "replay." + token
	}
}

// CheckReplay is dlq.CheckReplay for a dead letter whose payload is at
// hand, as iseed dlq replay and the console ask it before replaying one
// unchanged. A malformed letter whose payload decodes as a submission was
// malformed only by its message's Nats-Msg-Id: a replay carries the id the
// pipeline requires (ReplayMsgID), so it is not rejected again and passes.
// Unless its payload is larger than maxBytes, the largest submission the
// pipeline takes (layout.Resources.MaxSubmissionBytes; 0: no limit): the
// pipeline rejects that as malformed before reading it, so a submission
// letter of that size is refused whatever its reason. A gave_up letter's
// payload goes to the tracker, which has no such limit.
func CheckReplay(dl dlq.DeadLetter, payload []byte, maxBytes int) error {
	if maxBytes > 0 && len(payload) > maxBytes && dl.Reason != dlq.ReasonGaveUp {
		return &dlq.RefusedError{Seq: dl.Seq, Reason: dl.Reason,
			Why: fmt.Sprintf("its payload is %d bytes, more than the %d a submission may have, and would be rejected again as malformed",
				len(payload), maxBytes),
			Advice: fmt.Sprintf("correct it with 'iseed dlq replay --edit %d' to at most %d bytes (send large files as nats-os:// "+
				"references to the tenant's files bucket), or remove it with 'iseed dlq purge %d'", dl.Seq, maxBytes, dl.Seq)}
	}
	if dl.Reason == dlq.ReasonMalformed {
		if _, err := DecodeSubmission(payload); err == nil {
			return nil
		}
	}
	return dlq.CheckReplay(dl)
}

// LetterFingerprint is the fingerprint of a dead letter's payload read as
// a submission (Submission.Fingerprint): the one its replay is claimed
// with, which dlq.CheckReopen compares with its submission's record's. ""
// when the payload is not a submission.
func LetterFingerprint(payload []byte) string {
	sub, err := DecodeSubmission(payload)
	if err != nil {
		return ""
	}
	return sub.Fingerprint()
}

// replayable reports whether the message is an operator's replay of a
// failed or rejected submission that has not been replayed from that dead
// letter yet, and that its producer did not withdraw, unless the tenant
// asked for the replay (withdrawnRefused).
func (p *Pipeline) replayable(j *job) bool {
	return p.reopens(j) && (j.tenantAsked || !j.rec.WithdrawnClosed())
}

// withdrawnRefused reports whether the message is an operator's replay
// that would reopen its submission but for its producer's withdrawal
// (record.Record.WithdrawnClosed), and the tenant did not ask for it (no
// signed dlq.TenantAskedHeader). iseed dlq replay and the console refuse
// such a letter before replaying it (dlq.CheckReopen), but the producer
// may withdraw the submission between that check and the replay: sent,
// it would be paid for against the producer's wish. It fails again
// instead, with a dead letter of its own.
func (p *Pipeline) withdrawnRefused(j *job) bool {
	return p.reopens(j) && !j.tenantAsked && j.rec.WithdrawnClosed()
}

// reopens reports whether the message is an operator's replay of a failed
// or rejected submission without an upstream request that has not been
// replayed from that dead letter yet.
func (p *Pipeline) reopens(j *job) bool {
	if j.replay == 0 {
		return false
	}
	if j.rec.State != record.StateFailed && j.rec.State != record.StateRejected {
		return false
	}
	if j.rec.RequestID != "" {
		return false // it has its upstream request (tracking gave up): never a new one
	}
	return !j.rec.Replayed(j.replay)
}

// correctable reports whether the message is an operator's replay of a
// failed or rejected submission with a corrected payload (another
// fingerprint), which then takes the place of the recorded one: only when
// nothing sent for the old payload can exist upstream (no request, no POST
// in doubt), so that the correction can never make a second request, and
// only when the replay is marked a correction (correctionOf).
func (p *Pipeline) correctable(j *job) bool {
	return p.takesCorrection(j) && j.correction
}

// takesCorrection reports whether the job's record would take a replay's
// other payload in place of its own: correctable, but for the mark.
func (p *Pipeline) takesCorrection(j *job) bool {
	return p.replayable(j) && !j.rec.PostInDoubt()
}

// anotherPayload is why the job's message, another payload than its
// submission's recorded one, is a conflict. A plain replay of a record
// that would take a correction is one too, whatever the operator's side
// checked (dlq.CheckPlainReplay): the record may have changed since (a
// correction landed, another replica), and a replay may come from an
// older binary or anyone who skipped the check. Sent, it would change
// what the submission sends.
func (p *Pipeline) anotherPayload(j *job) error {
	if !j.correction && p.takesCorrection(j) {
		return fmt.Errorf("%w: dead letter %d was replayed unchanged, and its payload is another submission than the one %s "+
			"was recorded with: not sent in its place; to replace the recorded submission, correct this dead letter explicitly "+
			"(iseed dlq replay --edit or --payload), or purge it", errPlainReplay, j.replay, j.sub.ID)
	}
	return fmt.Errorf("submission %s was received before with a different payload; this one was not sent", j.sub.ID)
}

// errPlainReplay: a plain replay whose payload is another submission than
// its submission's recorded one (anotherPayload).
var errPlainReplay = errors.New("a plain replay is never a correction")

// reopen starts a new generation of a failed or rejected submission. A
// record the retention scrubbed (record.Record.Scrub) gets its metadata
// and person key back from the replayed payload, as a correction does.
func (p *Pipeline) reopen(ctx context.Context, j *job, problems []schema.Problem, now time.Time) (Outcome, bool) {
	if len(problems) > 0 && j.rec.PostInDoubt() {
		j.spent = true
		return p.failedAgain(j), true // still unreconcilable: a person must decide
	}
	next := *j.rec.Clone()
	if next.Fingerprint != j.sub.Fingerprint() || !next.Scrubbed.IsZero() {
		fresh := p.newRecord(j, now)
		if next.Fingerprint != fresh.Fingerprint { // a correction (correctable): describe the new payload
			next.Fingerprint, next.Service, next.ServiceHash, next.Price = fresh.Fingerprint, fresh.Service, fresh.ServiceHash, fresh.Price
		}
		// The new payload's, or the same payload's once the retention scrubbed them.
		next.PersonKey, next.Metadata, next.Scrubbed = fresh.PersonKey, fresh.Metadata, time.Time{}
	}
	if j.svc != nil && !j.rec.PostInDoubt() {
		// The same payload is validated, priced and sent against the
		// service as published now, which may be another hash or price
		// than the earlier generation's schema said (a refusal of its hash
		// dropped that schema). Kept, the earlier ones named the request in
		// its events, ledger entry and audit under a service it was not
		// created for. One whose earlier POST may have created a request
		// keeps them: that request would be under the earlier hash.
		next.Service, next.ServiceHash = j.svc.Name, j.svc.Hash
		if j.prep != nil {
			price := j.prep.Price
			next.Price = &price
		}
	}
	next.Generation++
	next.Reason, next.Errors, next.UpstreamMessage = "", nil, ""
	next.CancelRequested, next.CancelledBy = time.Time{}, "" // replayed: sent after all
	next.AddReplay(j.replay, now)
	note := fmt.Sprintf("replay of dead letter %d", j.replay)
	if len(problems) > 0 {
		next.To(record.StateRejected, now, note)
		p.rejectWith(j, &next, problems)
	} else {
		next.To(record.StateClaimed, now, note)
		j.unsure = j.rec.PostInDoubt()
		if !j.unsure {
			next.Attempts++
			j.precounted = true
		}
		next.Pending = p.takeLease(j, now)
	}
	if o, done := p.commit(ctx, j, &next); done {
		return o, true
	}
	if next.State == record.StateRejected {
		return p.rejected(j), true
	}
	return Outcome{}, false
}
