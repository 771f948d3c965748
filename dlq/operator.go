package dlq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotFound means there is no dead letter with that sequence: it never
// existed, or it was replayed or purged.
var ErrNotFound = errors.New("no such dead letter")

// Letter is one dead letter read back whole.
type Letter struct {
	DeadLetter
	Subject string      // where it is stored: <prefix>.dlq.<tenant>.<id>
	Header  nats.Header // every header, as stored
	Payload []byte      // the original message: personal data (see Mask)
}

// Get reads dead letter seq, or fails with ErrNotFound.
func (q *Queue) Get(ctx context.Context, seq uint64) (*Letter, error) {
	raw, err := q.getMsg(ctx, seq)
	if err != nil {
		return nil, err
	}
	dl := Parse(seq, raw.Header)
	dl.Stored = raw.Time
	return &Letter{DeadLetter: dl, Subject: raw.Subject, Header: raw.Header, Payload: raw.Data}, nil
}

// CheckOrigin refuses to replay a dead letter anywhere but where one iseed
// stored would go: the submissions subject of the tenant whose DLQ subject
// holds it, or that submission's tracking subject (a tracker's dead
// letter). Anyone who may publish in the account can put a message on a
// DLQ subject (the shipped NATS permissions let only iseed); a replay signs
// it, so it must not be sent on to another tenant or into iseed's own
// streams, and one without iseed's headers is not replayed at all.
func (q *Queue) CheckOrigin(l *Letter) error { return CheckOrigin(q.layout, l.Subject, l.DeadLetter) }

// CheckOrigin is Queue.CheckOrigin for dead letter l stored on subject.
func CheckOrigin(lay layout.Layout, subject string, l DeadLetter) error {
	r := &RefusedError{Seq: l.Seq, Reason: l.Reason,
		Advice: fmt.Sprintf("look at it with 'iseed dlq show %d' and remove it with 'iseed dlq purge %d'", l.Seq, l.Seq)}
	// Where iseed stores the letter its headers describe; one whose id
	// could not be read goes under a placeholder id.
	own := lay.DLQSubject(l.Tenant, l.SubmissionID)
	stored := subject == own || (l.SubmissionID == "" && strings.HasPrefix(subject, own))
	switch {
	case l.OriginalSubject == "":
		r.Why = "it has none of the headers iseed writes on a dead letter: iseed did not store it"
	case l.Tenant == "":
		r.Why = "it names no tenant (its subject's was not a valid one): there is no tenant to send it back to"
	case !stored:
		r.Why = fmt.Sprintf("its headers name tenant %q and submission %q, and it is stored on %s: iseed did not store it", l.Tenant, l.SubmissionID, subject)
	case l.OriginalSubject != lay.SubmissionSubject(l.Tenant) && l.OriginalSubject != lay.TrackSubject(l.Tenant, l.SubmissionID):
		r.Why = fmt.Sprintf("it would go to %s, which is not tenant %q's submissions or tracking subject", l.OriginalSubject, l.Tenant)
	default:
		return nil
	}
	return r
}

func (q *Queue) getMsg(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	raw, err := q.stream.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, fmt.Errorf("dlq: dead letter %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("dlq: dead letter %d: %w", seq, err)
	}
	return raw, nil
}

// Purge removes dead letter seq without replaying it, or fails with
// ErrNotFound. The submission stays as it is (rejected or failed). The
// letter's bytes are overwritten on disk, not only marked deleted: its
// payload is a person's data.
//
// A purge claims the letter as a replay does (claim.go): while a replay
// of it is under way it fails with ErrReplayUnderWay. Once a replay of it
// is published, it removes the letter as that replay would and fails
// with ErrReplayedAlready (ErrNotRemoved when the letter cannot be
// removed): the submission reopens, and an operator told "purged" would
// take it for one that stays failed. Left to that replay, the letter
// stayed for good when the replay had ended (killed, or its delete
// failed: ErrNotRemoved, which tells the operator to purge it).
//
// A purge that took over the claim of a replay whose publish is in doubt
// keeps that claim, which names the replay's message id, unless the
// letter is gone: released, it would let a correction under another id
// publish a second time.
func (q *Queue) Purge(ctx context.Context, seq uint64) error {
	raw, err := q.getMsg(ctx, seq)
	if err != nil {
		return err
	}
	c, err := q.claim(ctx, seq, raw.Time, "")
	if errors.Is(err, errPublishedBefore) {
		if err := q.remove(ctx, seq); err != nil {
			return fmt.Errorf("dlq: purge %d: %w: %w", seq, ErrNotRemoved, err)
		}
		c.release(ctx)
		return fmt.Errorf("dlq: purge %d: %w", seq, ErrReplayedAlready)
	}
	if err != nil {
		return fmt.Errorf("dlq: purge %d: %w", seq, err)
	}
	err = q.stream.SecureDeleteMsg(ctx, seq)
	if err == nil {
		c.release(ctx)
		return nil
	}
	// The server answers a delete of a missing message with a generic
	// failure: ask whether it is there.
	if _, gerr := q.getMsg(ctx, seq); errors.Is(gerr, ErrNotFound) {
		c.release(ctx)
		return gerr
	}
	c.drop(ctx) // the note of a replay that may have been stored stays
	if c == nil || c.inDoubt == "" {
		return fmt.Errorf("dlq: purge %d: %w", seq, err)
	}
	return fmt.Errorf("dlq: purge %d: %w (an earlier replay of it may have been stored, and its claim stays: "+
		"in a minute, purge it again, or run that replay again with the same payload; a correction with another payload is refused)", seq, err)
}

// RefusedError says why a dead letter is not replayed as asked, and what
// to do instead.
type RefusedError struct {
	Seq    uint64
	Reason string
	Why    string // what would happen
	Advice string // what to do instead
	// Withdrawn: the submission's producer withdrew it
	// (record.Record.WithdrawnClosed). The only refusal an operator may
	// override, when the tenant asks (TenantAsked).
	Withdrawn bool
}

// TenantAsked is refused (CheckReopen's) unless it refuses a letter only
// because its submission's producer withdrew it, and the tenant asked
// that it be sent after all: an operator's explicit override (iseed dlq
// replay --tenant-asked).
func TenantAsked(refused error) error {
	var r *RefusedError
	if errors.As(refused, &r) && r.Withdrawn {
		return nil
	}
	return refused
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("dead letter %d (%s): %s; %s", e.Seq, e.Reason, e.Why, e.Advice)
}

// CheckReplay refuses to replay unchanged a dead letter that the pipeline
// would reject again for the same reason: invalid input, a conflicting
// payload under an id already used, a message that is not a submission.
// Other reasons (credit, the upstream, time) may pass on a replay. A
// caller that has the payload asks consumer.CheckReplay, which also lets
// through a malformed letter whose only fault was its message id.
func CheckReplay(dl DeadLetter) error {
	r := &RefusedError{Seq: dl.Seq, Reason: dl.Reason}
	edit := fmt.Sprintf("correct it with 'iseed dlq replay --edit %d', or remove it with 'iseed dlq purge %d'", dl.Seq, dl.Seq)
	switch dl.Reason {
	case ReasonInvalid:
		r.Why, r.Advice = "its input is invalid and would be rejected again", edit
	case ReasonMalformed:
		r.Why, r.Advice = "it is not a readable submission and would be rejected again", edit
	case ReasonConflict:
		r.Why = "its id was used before for another payload, so it would conflict again"
		r.Advice = fmt.Sprintf("send it under a new id with 'iseed dlq replay --edit %d', or remove it with 'iseed dlq purge %d'", dl.Seq, dl.Seq)
	default:
		return nil
	}
	return r
}

// CheckReopen refuses to replay a dead letter whose submission (rec, its
// record; nil when there is none) the replay would not reopen, and says
// to purge it instead:
//
//   - a gave_up letter whose submission is closed otherwise than by a
//     give-up: completed, when the upstream's completion overrode the
//     give-up (docs/tracking.md). The tracker would acknowledge the
//     replay without reopening anything. So is one that reopened its
//     submission's tracking once already (its replay could not remove
//     it). Another gave_up letter whose submission still failed with
//     gave_up, or is open, passes.
//   - a submission's letter whose submission has its upstream request by
//     now (a late answer adopted it, a replay of another of its letters
//     sent it): it is never sent again, and the pipeline would only
//     announce it again.
//   - a submission's letter that reopened its submission once already (a
//     replay that could not remove it, ErrNotRemoved): a letter reopens
//     a submission at most once (record.Record.Replays).
//   - a submission's letter whose submission is open again, held, or
//     claimed under a delivery's live lease (another of its letters was
//     replayed): the replay would be a duplicate of the submission on its
//     way. A claimed one whose lease has ended (by the server's clock,
//     now) passes: its delivery may be gone for good (its message lost with
//     its max_deliveries advisory), and only a replay resumes it. It waits behind the lease of
//     the delivery working on it and then reopens nothing, or, if that
//     delivery failed it again, reopens it for another attempt nobody
//     asked for after that failure; a held one's replay takes it out of
//     its hold's turn. Once the submission has ended the letter is
//     replayed (it failed again) or purged (it was sent).
//   - a submission's letter whose submission its producer withdrew
//     (record.Record.WithdrawnClosed: failed withdrawn, or withdrawn after
//     it failed or was rejected with nothing sent): the replay would send
//     it against the producer's wish. Only this refusal is overridden,
//     when the tenant asks (TenantAsked, RefusedError.Withdrawn).
//
// A conflict's letter passes: its record is another payload's
// (CheckReplay and CheckCorrection decide those). So does a malformed
// message's, unless its payload is a submission whose fingerprint
// (fingerprint: consumer.LetterFingerprint, "" when it is none) is the
// record's: malformed only by its message id, it is that submission's
// letter, and its replay goes where any other's does (a wait behind a live
// lease, then a reopen nobody asked for). A plain replay of one whose
// payload is another would be a correction: CheckPlainReplay refuses that
// (a correction, iseed dlq replay --edit, asks this one alone).
//
// now is the time a lease is judged at: the NATS server's, which the
// pipeline writes leases in (Queue.CheckReopen).
func CheckReopen(dl DeadLetter, fingerprint string, rec *record.Record, now time.Time) error {
	if rec == nil {
		return nil
	}
	r := &RefusedError{Seq: dl.Seq, Reason: dl.Reason, Advice: fmt.Sprintf("purge the letter with 'iseed dlq purge %d'", dl.Seq)}
	switch {
	case dl.Reason == ReasonGaveUp && rec.Replayed(dl.Seq):
		// The tracker reopens a record once per letter, as the pipeline
		// does (tracking's reopenable).
		r.Why = "it reopened the submission once already, and a dead letter reopens a submission at most once: nothing would reopen"
	case dl.Reason == ReasonGaveUp:
		if !rec.Closed() || (rec.State == record.StateFailed && rec.Reason == ReasonGaveUp) {
			return nil
		}
		r.Why = fmt.Sprintf("the submission is %s: nothing to reopen", rec.State)
	case dl.Reason == ReasonConflict:
		return nil
	case dl.Reason == ReasonMalformed && (fingerprint == "" || fingerprint != rec.Fingerprint):
		return nil
	case rec.RequestID != "":
		r.Why = fmt.Sprintf("the submission is %s with its upstream request %s: it is never sent again, and nothing would reopen", rec.State, rec.RequestID)
	case rec.Replayed(dl.Seq):
		r.Why = "it reopened the submission once already, and a dead letter reopens a submission at most once: nothing would reopen"
	case rec.WithdrawnClosed():
		r.Withdrawn = true
		r.Why = fmt.Sprintf("its producer withdrew the submission (%s, %s): a replay would send it against the producer's wish",
			rec.CancelRequested.UTC().Format(time.RFC3339), rec.State)
		r.Advice = fmt.Sprintf("replay it only when the tenant asks, with 'iseed dlq replay --tenant-asked %d'; otherwise purge it with 'iseed dlq purge %d'", dl.Seq, dl.Seq)
	case rec.State == record.StateHeld || (rec.State == record.StateClaimed && rec.Pending != nil && now.Before(rec.Pending.Until)):
		r.Why = fmt.Sprintf("the submission is %s: it is open again (another of its dead letters was replayed: it is on its way, or held), "+
			"and a replay now would reopen nothing", rec.State)
		r.Advice = fmt.Sprintf("wait until it ends ('iseed status --tenant %s %s'): failed or rejected again, replay or correct it then; "+
			"sent, purge the letter with 'iseed dlq purge %d'", dl.Tenant, dl.SubmissionID, dl.Seq)
	default:
		return nil
	}
	return r
}

// CheckReopen is CheckReopen for dead letter dl, the fingerprint of its
// payload and its submission's record rec (nil: none), judged at the NATS
// server's time: the clock the pipeline writes leases on
// (consumer.Config.Now). The operator's machine may be minutes off: ahead, it let a replay through during a live lease;
// behind, it refused a letter whose lease had ended. refused is its
// refusal; err says the server's time could not be learned.
func (q *Queue) CheckReopen(ctx context.Context, dl DeadLetter, fingerprint string, rec *record.Record) (refused, err error) {
	if rec == nil {
		return nil, nil
	}
	now, err := q.serverNow(ctx)
	if err != nil {
		return nil, fmt.Errorf("dlq: the server's time, which a lease is judged by: %w", err)
	}
	return CheckReopen(dl, fingerprint, rec, now), nil
}

// CheckPlainReplay refuses to replay dead letter dl unchanged when its
// payload (fingerprint: consumer.LetterFingerprint, "" when it is not a
// submission) is another submission than the one its record (rec; nil:
// none) was made for, and that record takes a correction: failed or
// rejected, with no upstream request and no POST in doubt. A plain replay
// means the same again, never another payload; a correction is asked for
// explicitly (iseed dlq replay --edit or --payload), and marked so on the
// wire (CorrectionHeader). The pipeline refuses an unmarked replay of
// another payload as a conflict, whatever this check said (the record may
// change before it handles the replay); a daemon older than the mark took
// it for a correction and sent it in place of the recorded one. This check
// refuses it first, keeping the letter and saying why at once. Such a
// letter is a malformed one (its message id was not its own, and its
// payload another than the one recorded under its id since), or one
// stored before its submission had a record (expired, out of deliveries)
// whose id was then recorded with another payload. A conflict's letter is
// refused by CheckReplay; a gave_up letter's payload is a tracking task.
// Where the record takes no correction the pipeline refuses the payload as
// a conflict, and nothing is sent: CheckReopen judges those.
func CheckPlainReplay(dl DeadLetter, fingerprint string, rec *record.Record) error {
	if rec == nil || fingerprint == "" || fingerprint == rec.Fingerprint || dl.Reason == ReasonConflict || dl.Reason == ReasonGaveUp {
		return nil
	}
	if rec.State != record.StateFailed && rec.State != record.StateRejected || rec.RequestID != "" || rec.PostInDoubt() || rec.Replayed(dl.Seq) {
		return nil
	}
	return &RefusedError{Seq: dl.Seq, Reason: dl.Reason,
		Why: fmt.Sprintf("its payload is another submission than the one %q was recorded with: a plain replay never changes what a "+
			"submission sends, so the pipeline would refuse it as a conflict (one older than the correction mark would send it "+
			"in place of the recorded one)", rec.ID),
		Advice: fmt.Sprintf("to replace the recorded submission, correct it explicitly with 'iseed dlq replay --edit %d' (which opens this payload) "+
			"or 'iseed dlq replay --payload FILE %d'; otherwise remove the letter with 'iseed dlq purge %d'", dl.Seq, dl.Seq, dl.Seq)}
}

// CheckCorrection refuses a correction whose payload names another
// submission than the dead letter's: replaying it would start or reopen
// that submission, a charge nobody asked of this letter. The id may change
// only where the letter's own cannot serve: a message whose id could not
// be read, and a conflict (the id is taken by another payload). Even then
// the new id must be unused: taken reports whether a submission has it.
// A correction under the letter's own id is refused when that submission
// takes no correction (closed: it has its upstream request, a POST in
// doubt, or is on its way): the pipeline takes it for a conflict. For a
// conflict's letter it would conflict again; any other's submission was
// reopened meanwhile (claimed or held: another of its letters was
// replayed), and the tenant would be told of a conflict for a submission
// on its way.
func CheckCorrection(dl DeadLetter, id string, taken, closed bool) error {
	r := &RefusedError{Seq: dl.Seq, Reason: dl.Reason}
	switch {
	case id == dl.SubmissionID && closed && dl.Reason == ReasonConflict:
		r.Why = fmt.Sprintf("submission %q has its upstream request, or an attempt that may have created it, or is on its way: a correction under its id would conflict again", id)
		r.Advice = "give the correction an id no submission has"
	case id == dl.SubmissionID && closed:
		r.Why = fmt.Sprintf("submission %q is open again (another of its dead letters was replayed: it is on its way, or held): "+
			"the pipeline would take a correction under its id for a conflict", id)
		r.Advice = fmt.Sprintf("wait until it ends ('iseed status --tenant %s %s'): failed or rejected again, correct it then; "+
			"sent, remove this letter with 'iseed dlq purge %d'", dl.Tenant, id, dl.Seq)
	case id == dl.SubmissionID:
		return nil
	case dl.SubmissionID != "" && dl.Reason != ReasonConflict:
		r.Why = fmt.Sprintf("the corrected payload names submission %q, and the dead letter is submission %q's: a correction keeps the id", id, dl.SubmissionID)
		r.Advice = fmt.Sprintf("keep the id %q in the correction, or publish %q as a submission of its own with 'iseed submit'", dl.SubmissionID, id)
	case taken:
		r.Why = fmt.Sprintf("the corrected payload names submission %q, which exists already: the replay would reopen it", id)
		r.Advice = "give the correction an id no submission has"
	default:
		return nil
	}
	return r
}

// CheckEdit refuses to replay a dead letter with another payload when an
// earlier attempt may have created its upstream request from the one it
// has: only that payload can be reconciled with the upstream, so only it
// may be replayed. That is every ambiguous letter, and any other (but a
// conflict, whose record is another payload's) whose submission's record
// holds a POST in doubt (inDoubt: Pending set, no request), as a
// submission that ran out of deliveries while reconciling does.
//
// A gave_up letter is refused too: its payload is the tracking task of a
// submission that has its upstream request, not a submission, and its
// replay goes back to the tracker, which can take nothing else.
func CheckEdit(dl DeadLetter, inDoubt bool) error {
	if dl.Reason == ReasonGaveUp {
		return &RefusedError{Seq: dl.Seq, Reason: dl.Reason,
			Why:    "it is the tracking task of a submission that has its upstream request, and a replay only reopens its tracking",
			Advice: fmt.Sprintf("replay it unchanged with 'iseed dlq replay %d'", dl.Seq)}
	}
	if dl.Reason != ReasonAmbiguous && (!inDoubt || dl.Reason == ReasonConflict) {
		return nil
	}
	return &RefusedError{Seq: dl.Seq, Reason: dl.Reason,
		Why:    "an earlier attempt may have created its upstream request from this payload",
		Advice: fmt.Sprintf("replay it unchanged with 'iseed dlq replay %d' once the upstream can be checked", dl.Seq)}
}
