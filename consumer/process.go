package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/nats-io/nats.go/jetstream"
)

// job is one message being processed.
type job struct {
	msg    jetstream.Msg
	alive  jetstream.Msg // kept in progress while the job waits: msg, or the advisory of an advisory's job
	meta   *jetstream.MsgMetadata
	tenant string
	sub    *Submission
	svc    *schema.Service
	prep   *schema.Prepared
	rec    *record.Record
	rev    uint64
	unsure bool      // an earlier POST may have created a request we do not know of
	owner  string    // this delivery's lease owner: unique per job, even within a process
	settle time.Time // after an unanswered POST in this delivery: when reconciling can trust "none"
	replay uint64    // the dead letter an operator's replay names; 0 when not a replay
	// correction is true when that replay is marked a correction
	// (correctionOf): only then may its payload take the recorded one's place.
	correction bool
	// tenantAsked is true when that replay is marked as one the tenant
	// asked for (tenantAskedOf): only then may it reopen a submission its
	// producer withdrew.
	tenantAsked bool
	// spent is true when that replay could not reopen the record: its
	// dead letter is a new one, not a repeat of the letter it replaced.
	spent bool
	// aliveWait is alive's consumer's AckWait: a wait signals progress
	// more often than that (sleepInProgress); 0 for the submissions'.
	aliveWait time.Duration
	// unverified is the dead letter a replay header names whose signature
	// does not hold (forged, or signed with a key the daemon does not
	// hold: rotated since); 0 when none. The message is an ordinary one,
	// but that letter may be gone, removed by the replay command.
	unverified uint64
	// precounted is true while the record counts a POST this delivery has
	// not sent yet (the claim, a take-over and markAttempt count the POST
	// they prepare): a rejection or failure before the POST takes it back.
	precounted bool
	res        *budget.Reservation // this delivery's reservation against the caps
	// created is true when this delivery created the submission's record:
	// no earlier delivery can have left a reservation.
	created bool
	start   time.Time
	postErr error   // this delivery's last failed POST, for the log line when it ends unsettled
	called  bool    // this delivery's last POST carried callback_data (record.Record.Callback)
	peeked  *string // the id of a message that did not decode, once read (idOf)
	// withdrawal is true when the message is a withdrawal (withdraw.go),
	// not a submission.
	withdrawal bool
}

// idOf is the submission id the job's message names: the decoded one, or
// for a message that did not decode the one PeekID reads ("" if none),
// read once for the rejected event, the dead letter and the log line.
func (j *job) idOf() string {
	if j.sub != nil {
		return j.sub.ID
	}
	if j.peeked == nil {
		id := ""
		if j.msg != nil {
			id = PeekID(j.msg.Data())
		}
		j.peeked = &id
	}
	return *j.peeked
}

func (j *job) key() string { return record.Key(j.tenant, j.sub.ID) }

// seq is the submissions stream's sequence of the job's message (0 when
// the job has none).
func (j *job) seq() uint64 {
	if j.meta == nil {
		return 0
	}
	return j.meta.Sequence.Stream
}

// uncount takes back from next the attempt this delivery counted but never
// made.
func (j *job) uncount(next *record.Record) {
	if j.precounted && next.Attempts > 0 {
		next.Attempts--
	}
	j.precounted = false
}

// process takes one message as far as it can go and says where it ended.
func (p *Pipeline) process(ctx context.Context, j *job) Outcome {
	tenant, ok := p.tenantOf(j.msg.Subject())
	if !ok {
		return Outcome{Kind: Rejected, Reason: dlq.ReasonMalformed, Err: fmt.Errorf("%w: subject %q has no valid tenant", ErrMalformed, j.msg.Subject())}
	}
	j.tenant = tenant
	var forged bool
	if j.replay, forged = p.replayOf(j.msg.Subject(), j.msg.Headers(), j.msg.Data()); forged {
		j.unverified = dlq.ReplaySeq(j.msg.Headers().Get(dlq.ReplayHeader))
		p.forged.Warn().Str("tenant", tenant).Uint64("stream_seq", j.meta.Sequence.Stream).
			Msg("a message carries a replay header that is not signed with iseed's replay key: taken as an ordinary message")
	}
	j.correction = p.correctionOf(j.replay, j.msg.Subject(), j.msg.Headers(), j.msg.Data())
	j.tenantAsked = p.tenantAskedOf(j.replay, j.msg.Subject(), j.msg.Headers(), j.msg.Data())
	if o, done := p.tooLarge(ctx, j); done {
		return o
	}
	sub, err := DecodeSubmission(j.msg.Data())
	if err != nil {
		if id, bad, ok := decodeWithdrawal(j.msg.Data()); ok {
			return p.withdraw(ctx, j, id, bad)
		}
		return p.malformed(ctx, j, err)
	}
	j.sub = sub
	if err := checkMsgID(j.msg.Headers().Get(jetstream.MsgIDHeader), tenant, sub); err != nil {
		return p.malformed(ctx, j, err)
	}
	problems, err := p.validate(ctx, j)
	if err != nil && p.expired(j) {
		return p.expire(ctx, j, err)
	}
	if err != nil {
		return p.retry(err, 0)
	}
	if o, done := p.claim(ctx, j, problems); done {
		return o
	}
	return p.proceed(ctx, j)
}

// tooLarge rejects a message larger than a submission may be
// (layout.Resources.MaxSubmissionBytes): the stream took it, but it could
// not be published again: a hold would never be released, a replay never
// stored. done is false when the message is within the limit, and when a
// submission of its id exists: the limit was lowered after the stream took
// it (this is a redelivery, a hold's release, a duplicate), and its record
// decides. Rejected here, before its record is read, a submission whose
// POST is in doubt would be left claimed with nothing to resume it, its
// request paid and never found; one held again is ended by RunHolds when
// its release does not fit (endHold).
func (p *Pipeline) tooLarge(ctx context.Context, j *job) (o Outcome, done bool) {
	size := len(j.msg.Data())
	limit, over, err := p.overLimit(ctx, size)
	if err != nil {
		return p.retry(err, 0), true
	}
	if !over {
		return Outcome{}, false
	}
	if id := j.idOf(); id != "" {
		exists, err := p.recordExists(ctx, j.tenant, id)
		if err != nil {
			return p.retry(fmt.Errorf("message over the size limit: look up submission: %w", err), 0), true
		}
		if exists {
			return Outcome{}, false
		}
	}
	return p.malformed(ctx, j, errTooLarge(size, limit)), true
}

// overLimit reports whether size bytes are more than a submission may have,
// and that limit. The limit cached at start is read again before it says
// so: the stream's may have been raised since (a replica started with a
// larger max_payload, an operator), and iseed dlq replay, which reads it
// afresh, would replay a rejection's dead letter only for it to be
// rejected again.
func (p *Pipeline) overLimit(ctx context.Context, size int) (limit int, over bool, err error) {
	if limit = p.d.Resources.MaxSubmissionBytes(); limit <= 0 || size <= limit {
		return limit, false, nil
	}
	if limit, err = p.d.Resources.RefreshMaxSubmissionBytes(ctx); err != nil {
		return 0, false, err
	}
	return limit, limit > 0 && size > limit, nil
}

// errTooLarge says that a message of size bytes is more than the limit a
// submission may have.
func errTooLarge(size, limit int) error {
	return fmt.Errorf("%w: the message is %d bytes; a submission may be at most %d "+
		"(send large files as nats-os:// references to the tenant's files bucket)", ErrMalformed, size, limit)
}

// conflict ends a message that reuses a recorded submission's id with
// another payload. It is dead-lettered and never sent; its producer gets a
// conflict event (one per payload) saying so. The submission, its record
// and its events are untouched: the event is about the message.
func (p *Pipeline) conflict(j *job, cause error) Outcome {
	gen := 1
	if j.rec != nil {
		gen = max(gen, j.rec.Generation)
	}
	return Outcome{Kind: Conflict, Reason: dlq.ReasonConflict, Record: j.rec, Err: cause,
		Event: &publisher.Status{SubmissionID: j.sub.ID, Tenant: j.tenant, State: publisher.StateConflict, Generation: gen,
			Reason: dlq.ReasonConflict, Metadata: j.sub.Metadata, At: p.cfg.Now(),
			Errors: []publisher.Problem{{Code: dlq.ReasonConflict, Message: "submission " + j.sub.ID +
				" was received before with another payload (service, fields, options or email_target); this message was not sent. " +
				"A new submission needs a new id"}},
			EventID: publisher.ConflictEventID(j.tenant, j.sub.ID, j.sub.Fingerprint())}}
}

// malformed rejects a message that cannot be a submission (or whose
// message id is not its own). It is dead-lettered; when its tenant and id
// can be read and no submission of that id exists, its producer also gets
// a rejected event saying why. An existing submission of that id keeps its
// own events: a bad message must not announce anything about it.
func (p *Pipeline) malformed(ctx context.Context, j *job, cause error) Outcome {
	o := Outcome{Kind: Rejected, Reason: dlq.ReasonMalformed, Err: cause}
	id := j.idOf()
	if id == "" {
		return o
	}
	exists, err := p.recordExists(ctx, j.tenant, id)
	if err != nil {
		// Whether the submission exists is unknown: ask again later, or
		// its producer might never hear of the refusal.
		return p.retry(fmt.Errorf("malformed message: look up submission: %w", err), 0)
	}
	if exists {
		return o
	}
	now := p.cfg.Now()
	// Generation 0: before any record. The submission of that id that may
	// come later (corrected by an operator's replay, or sent again by its
	// producer) starts at 1, so that its events order after this one.
	rec := &record.Record{Tenant: j.tenant, ID: id, Generation: 0, Reason: dlq.ReasonMalformed,
		Errors: []publisher.Problem{{Code: dlq.ReasonMalformed, Message: cause.Error()}}}
	rec.To(record.StateRejected, now, dlq.ReasonMalformed)
	o.Event = rec.Status(record.StateRejected)
	o.Event.EventID = publisher.MalformedEventID(j.tenant, id, j.msg.Data())
	return o
}

// recordExists reports whether the submission has a record. Absence
// decides here (a rejection announced under the id, a message rejected
// before its record is read), and a KV get is a direct get, which a
// replica that lags answers with "no such key" for a record the leader
// has: absence is the leader's word (record.Store.GetFromLeader).
func (p *Pipeline) recordExists(ctx context.Context, tenant, id string) (bool, error) {
	_, _, err := p.store.Get(ctx, tenant, id)
	if errors.Is(err, record.ErrNotFound) {
		_, _, err = p.store.GetFromLeader(ctx, p.d.Publisher, tenant, id)
	}
	if errors.Is(err, record.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// expire ends a message that is too old while its service cannot be
// resolved, as its record says: done if it has its request, busy if
// another worker holds it, ambiguous if an attempt may have created a
// request, expired otherwise.
func (p *Pipeline) expire(ctx context.Context, j *job, cause error) Outcome {
	err := fmt.Errorf("past the maximum age of %s; last: %w", p.cfg.MaxAge, cause)
	rec, rev, gerr := p.store.Get(ctx, j.tenant, j.sub.ID)
	if errors.Is(gerr, record.ErrNotFound) {
		return Outcome{Kind: Failed, Reason: dlq.ReasonExpired, Err: err,
			Event: p.failedBeforeRecord(j.tenant, j.sub, j.msg.Data(), dlq.ReasonExpired, err)}
	}
	if gerr != nil {
		return p.retry(gerr, 0)
	}
	j.rec, j.rev = rec, rev
	// A replay that could have reopened the record fails again with it
	// instead: its dead letter is a new one (deadLetter), not a repeat of
	// the letter it replaced. So does one refused because its producer
	// withdrew it.
	j.spent = p.replayable(j) || p.withdrawnRefused(j)
	now := p.cfg.Now()
	if o, done := p.answeredBefore(ctx, j, now); done {
		return o // its request exists: however late, that is the truth
	}
	switch {
	case rec.Fingerprint != j.sub.Fingerprint():
		return p.conflict(j, err)
	case rec.RequestID != "":
		return p.announceExisting(j)
	case rec.State == record.StateRejected:
		return p.rejected(j)
	case rec.State == record.StateFailed:
		return p.failedAgain(j)
	case rec.Pending != nil && rec.Pending.Owner != j.owner && now.Before(rec.Pending.Until):
		return Outcome{Kind: Busy, Delay: rec.Pending.Until.Sub(now), Record: rec}
	case rec.PostInDoubt():
		return p.fail(ctx, j, dlq.ReasonAmbiguous, fmt.Errorf("%w, and an earlier attempt may have created the request", err))
	default:
		// An ended Unsent lease counted a POST its holder never sent, and
		// an earlier delivery's reservation goes back with it.
		j.precounted = rec.Pending != nil
		p.heldReservation(ctx, j)
		return p.fail(ctx, j, dlq.ReasonExpired, err)
	}
}

// failedBeforeRecord is the failed event of a message that failed for
// reason before any record of its id was written (it expired, or ran out
// of deliveries). Its producer hears of it as of a malformed message: an
// event of generation 0, with an id of its own (one per payload), so that
// the submission of that id sent again later starts at 1 and its events,
// a failure included, order after this one and are not taken for
// duplicates of it. Without it, the dead letter was all there was.
func (p *Pipeline) failedBeforeRecord(tenant string, sub *Submission, payload []byte, reason string, cause error) *publisher.Status {
	return &publisher.Status{SubmissionID: sub.ID, Tenant: tenant, State: publisher.StateFailed, Generation: 0,
		Reason: reason, Metadata: sub.Metadata, At: p.cfg.Now(),
		Errors:  []publisher.Problem{{Code: reason, Message: cause.Error()}},
		EventID: publisher.FailedBeforeRecordEventID(tenant, sub.ID, reason, payload)}
}

// heldPastMaxAge reports whether a held submission is past the maximum
// age, counted from its creation or, after an operator's replay, from the
// replay: every replayed message gets the maximum age again.
func (p *Pipeline) heldPastMaxAge(rec *record.Record, now time.Time) bool {
	from := rec.Created
	if last := rec.LastReplay(); last.After(from) {
		from = last
	}
	return now.Sub(from) > p.cfg.MaxAge
}

// expired reports whether the message is older than the maximum age.
func (p *Pipeline) expired(j *job) bool { return p.cfg.Now().Sub(j.meta.Timestamp) > p.cfg.MaxAge }

// validate resolves the service and checks the input. Problems are the
// submission's fault; an error is transient trouble.
func (p *Pipeline) validate(ctx context.Context, j *job) ([]schema.Problem, error) {
	svc, err := p.d.Schemas.Service(ctx, j.sub.Service)
	if errors.Is(err, schema.ErrUnknownService) {
		return []schema.Problem{{Field: "service", Code: "unknown_service",
			Message: fmt.Sprintf("no service %q in the catalog: use a catalog name such as \"ISEE\" or a hash_visura", truncate(j.sub.Service, 64))}}, nil
	}
	var se *schema.SchemaError
	if errors.As(err, &se) {
		// The upstream publishes a schema that cannot be used (no fields, a
		// rule that does not parse): asking again on every delivery until
		// the submission expires changes nothing. Rejected, replayable once
		// the service is fixed. The message names the hash and the place,
		// never a value of the submission.
		return []schema.Problem{{Field: "service", Code: "unusable_service",
			Message: "the service's schema cannot be used: " + se.Error()}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resolve service: %w", err)
	}
	j.svc = svc
	prep, err := svc.Validate(schema.Input{Fields: j.sub.Fields, Options: j.sub.Options}, p.limits(j))
	var verr *schema.ValidationError
	if errors.As(err, &verr) {
		return append(verr.Problems, EmailTargetProblems(j.sub.EmailTarget)...), nil
	}
	if err != nil {
		return nil, fmt.Errorf("validate: %w", err)
	}
	if probs := EmailTargetProblems(j.sub.EmailTarget); len(probs) > 0 {
		return probs, nil
	}
	j.prep = prep
	if p.d.Gate != nil {
		return p.d.Gate.Allow(ctx, j.tenant, svc, prep)
	}
	return nil, nil
}

// recordRoom is what a record and its event add to the problems and the
// metadata they copy: ids, states, the timeline, the CloudEvents envelope
// and the message's headers.
const recordRoom = 4 << 10

// limits are the schema limits of the job's submission: the configured
// ones, with no more problems listed than fit, beside its metadata, in the
// rejected record and event that copy them, one NATS message each. The
// submission itself fits in max_payload, but its problems may not (a
// hundred unknown keys, each cut to 64 bytes that JSON may escape
// six-fold): a record or event over max_payload is refused on every
// delivery, and the message would be redelivered until MaxDeliver, its
// producer never told. Those left out are counted (too_many_problems).
// A rejection that leaves its metadata out (rejectionKeepsMetadata) has
// the room of the metadata, less that of the problem that says so.
func (p *Pipeline) limits(j *job) schema.Limits {
	lim := p.cfg.Limits
	if mp := p.maxPayload(); mp > 0 {
		beside := escapedLen(j.sub.Metadata)
		if !keepsMetadata(mp, beside) {
			beside = metadataLeftOutRoom
		}
		lim.MaxProblemBytes = max(1, mp-beside-recordRoom)
	}
	return lim
}

// maxPayload is the NATS server's max_payload; 0 when the connection does
// not know it.
func (p *Pipeline) maxPayload() int {
	if nc := p.d.Publisher.Conn(); nc != nil && nc.MaxPayload() > 0 {
		return int(nc.MaxPayload())
	}
	return 0
}

// minProblemRoom is the least room for problems a rejection that copies
// the submission's metadata must have: more than the one
// too_many_problems problem a list cut to nothing still has.
const minProblemRoom = 1 << 10

// metadataLeftOutRoom bounds the problem a rejection without its metadata
// ends with (CodeMetadataLeftOut), as JSON.
const metadataLeftOutRoom = 512

// rejectionKeepsMetadata reports whether a rejection of the job can copy
// its metadata and still list problems within max_payload. Metadata within
// MaxMetadataBytes (16 KiB as stored) may leave no room for them on a
// server whose max_payload is under about 21 KiB: the rejected record and
// event would be refused on every delivery, and the message redelivered
// until MaxDeliver, its producer never told.
func (p *Pipeline) rejectionKeepsMetadata(j *job) bool {
	return len(j.sub.Metadata) == 0 || keepsMetadata(p.maxPayload(), escapedLen(j.sub.Metadata))
}

// keepsMetadata is rejectionKeepsMetadata for a max_payload of mp (0:
// unknown) and metadata of n bytes as stored.
func keepsMetadata(mp, n int) bool {
	return mp == 0 || mp-n-recordRoom >= minProblemRoom
}

// CodeMetadataLeftOut is the problem that ends a rejection whose metadata
// was left out of it: with it, the rejection would be over the NATS
// server's max_payload.
const CodeMetadataLeftOut = "metadata_left_out"

// rejectWith sets the problems of r, the job's rejected record, and leaves
// out its metadata, saying so in a last problem, when the rejection could
// not copy it within max_payload (rejectionKeepsMetadata).
func (p *Pipeline) rejectWith(j *job, r *record.Record, problems []schema.Problem) {
	r.Errors = toPublisher(problems)
	if p.rejectionKeepsMetadata(j) {
		return
	}
	r.Metadata = nil
	r.Errors = append(r.Errors, publisher.Problem{Field: "metadata", Code: CodeMetadataLeftOut,
		Message: fmt.Sprintf("the metadata (%d bytes as stored) is left out of this rejection: with it, the rejection would be over the NATS server's max_payload of %d bytes",
			escapedLen(j.sub.Metadata), p.maxPayload())})
}

// escapedLen is how long raw, a JSON value, is once encoding/json has
// copied it into a record or an event: <, > and & become \u003c and the
// like, U+2028 and U+2029 \u2028 and \u2029 (whitespace it drops is
// counted: an overestimate, never under).
func escapedLen(raw []byte) int {
	n := len(raw)
	for i, c := range raw {
		switch {
		case c == '<' || c == '>' || c == '&':
			n += 5
		case c == 0xE2 && i+2 < len(raw) && raw[i+1] == 0x80 && (raw[i+2] == 0xA8 || raw[i+2] == 0xA9):
			n += 3
		}
	}
	return n
}

// EmailTargetProblems returns the problem of a submission's email_target
// that is not one bare address (schema.ValidEmail), or none: the pipeline
// rejects the submission for it, and iseed validate reports it as the
// pipeline does.
func EmailTargetProblems(addr string) []schema.Problem {
	if addr == "" || schema.ValidEmail(addr) {
		return nil
	}
	return []schema.Problem{{Field: "email_target", Code: "invalid_email",
		Message: "email_target must be a plain address such as hr@example.com"}}
}

// claim creates the submission's record, or finds it and decides what an
// existing record means for this message. done is true when the message
// needs nothing more than the returned outcome.
func (p *Pipeline) claim(ctx context.Context, j *job, problems []schema.Problem) (Outcome, bool) {
	now := p.cfg.Now()
	rec := p.newRecord(j, now)
	if len(problems) > 0 {
		rec.To(record.StateRejected, now, "invalid")
		p.rejectWith(j, rec, problems)
	} else {
		rec.Attempts = 1
		rec.Pending = p.lease(j, now)
		rec.Pending.Unsent = p.markUnsent // until its token is in hand (markAttempt)
	}
	rev, err := p.store.Create(ctx, rec)
	if err != nil {
		rev, err = p.landed(ctx, rec, err)
	}
	if err != nil {
		return p.retry(err, 0), true
	}
	if rev != 0 {
		j.rec, j.rev = rec, rev
		if rec.State == record.StateRejected {
			return p.rejected(j), true
		}
		j.precounted = true // only a record this job created counts its POST
		j.created = true
		return Outcome{}, false
	}
	existing, rev, err := p.store.Get(ctx, j.tenant, j.sub.ID)
	if err != nil {
		return p.retry(err, 0), true
	}
	j.rec, j.rev = existing, rev
	return p.resume(ctx, j, problems, now)
}

// resume decides what a message means for a submission already recorded.
func (p *Pipeline) resume(ctx context.Context, j *job, problems []schema.Problem, now time.Time) (Outcome, bool) {
	rec := j.rec
	if rec.Fingerprint != j.sub.Fingerprint() && !p.correctable(j) {
		return p.conflict(j, p.anotherPayload(j)), true
	}
	if o, done := p.answeredBefore(ctx, j, now); done {
		return o, true
	}
	if p.replayable(j) {
		return p.reopen(ctx, j, problems, now)
	}
	// A replay refused because its producer withdrew the submission
	// fails again with it: a dead letter of its own, which a replay the
	// tenant asks for can reopen it from.
	j.spent = p.withdrawnRefused(j)
	switch rec.State {
	case record.StateRejected:
		return p.rejected(j), true
	case record.StateFailed:
		return p.failedAgain(j), true
	case record.StateClaimed, record.StateHeld:
		// A held record sent again (the caps may allow it now) stays held
		// under the lease of the delivery taking it over until it is sent:
		// that lease is respected as a claimed record's.
		if rec.Pending != nil && rec.Pending.Owner != j.owner && now.Before(rec.Pending.Until) {
			if p.copyOfAnother(ctx, j) {
				return Outcome{Kind: Duplicate, Record: rec}, true
			}
			return Outcome{Kind: Busy, Delay: rec.Pending.Until.Sub(now), Record: rec}, true
		}
		if !rec.CancelRequested.IsZero() && !rec.PostInDoubt() {
			// An operator cancelled it (CancelUnsent), or its producer
			// withdrew it, held or claimed, as an expiry would: nothing
			// was sent, nor will be. A POST in doubt (which neither marks)
			// goes on to be reconciled instead.
			j.precounted = rec.Pending != nil // an ended Unsent lease counted a POST its holder never sent
			p.heldReservation(ctx, j)
			return p.fail(ctx, j, cancelReason(rec), cancelledHold(rec)), true
		}
		if rec.State == record.StateHeld && p.heldPastMaxAge(rec, now) {
			err := fmt.Errorf("held past the maximum age of %s", p.cfg.MaxAge)
			if rec.PostInDoubt() {
				return p.fail(ctx, j, dlq.ReasonAmbiguous, fmt.Errorf("%w, and an earlier attempt may have created the request", err)), true
			}
			j.precounted = rec.Pending != nil // an ended Unsent lease counted a POST its holder never sent
			p.heldReservation(ctx, j)
			return p.fail(ctx, j, dlq.ReasonExpired, err), true
		}
		if len(problems) > 0 && rec.PostInDoubt() {
			// The schema changed under a submission that may already have an
			// upstream request: without valid input it cannot be reconciled.
			return p.fail(ctx, j, dlq.ReasonAmbiguous, fmt.Errorf("the submission no longer validates (%d problems) and an earlier attempt may have created its request", len(problems))), true
		}
		if len(problems) > 0 { // nothing was ever sent: reject
			j.precounted = rec.Pending != nil // an ended Unsent lease counted a POST its holder never sent
			p.heldReservation(ctx, j)         // and an earlier delivery's reservation goes back with it
			return p.reject(ctx, j, problems, now)
		}
		j.unsure = rec.PostInDoubt()
		return p.takeOver(ctx, j, now)
	default: // submitted, or further along: announce again (deduplicated) and move on
		return p.announceExisting(j), true
	}
}

// copyOfAnother reports whether the job's message is a copy of the
// submission whose live lease a delivery of another message holds: the
// same payload, published again under a message id of its own (or none),
// or a hold's release sent again while that delivery runs. That
// delivery carries the submission: its message stays pending until it is
// decided, and is redelivered if its worker dies. Nakked to look again,
// the copy would only announce what that delivery did, and meanwhile hold
// one of the consumer's MaxAckPending: enough copies stopped every
// tenant's submissions for as long as the lease lasted. A redelivery of
// the lease holder's own message is no copy: it waits for the lease. Nor
// is a message that may have to take the holder's place: when the
// holder's message has left the stream (deleted by an operator, aged out),
// or cannot be looked up, no redelivery of it would carry the submission
// if its worker died.
func (p *Pipeline) copyOfAnother(ctx context.Context, j *job) bool {
	held := j.rec.Pending.Seq
	if held == 0 || j.seq() == 0 || held == j.seq() || j.rec.Fingerprint != j.sub.Fingerprint() {
		return false
	}
	_, err := p.d.Resources.Submissions.GetMsg(ctx, held)
	return err == nil
}

// takeOver puts this worker's lease on a claimed record.
//
// Like a claim, it counts the POST it prepares, unless an earlier attempt
// may still have created the request (unsure): that attempt's count stands
// for it until reconciliation says more. An Unsent lease's holder counted
// the POST it never sent: this one's takes its place.
func (p *Pipeline) takeOver(ctx context.Context, j *job, now time.Time) (Outcome, bool) {
	next := *j.rec
	next.Pending = p.takeLease(j, now)
	count := !j.unsure
	if count && (j.rec.Pending == nil || !j.rec.Pending.Unsent) {
		next.Attempts++
	}
	o, done := p.commit(ctx, j, &next)
	j.precounted = count && !done
	return o, done
}

// takeLease returns this job's lease, keeping what the previous pending
// attempt, if any, says of when a request may have been created and when
// that settles. With none in doubt (unsure is false) it is Unsent until
// the POST's token is in hand.
func (p *Pipeline) takeLease(j *job, now time.Time) *record.Attempt {
	a := p.lease(j, now)
	switch old := j.rec.Pending; {
	case !j.unsure:
		a.Unsent = p.markUnsent
	case old != nil:
		a.Started, a.Settle, a.Marked, a.Answered, a.Reconciled = old.Started, p.settleOf(old), a.Marked && old.Marked, old.Answered, old.Reconciled
	}
	return a
}

// commit writes next over the job's record. A lost compare-and-set means
// another worker moved first: busy, look again soon.
func (p *Pipeline) commit(ctx context.Context, j *job, next *record.Record) (Outcome, bool) {
	rev, err := p.store.Update(ctx, next, j.rev)
	if errors.Is(err, record.ErrRevision) {
		return Outcome{Kind: Busy, Delay: p.cfg.Retry.MinDelay, Record: j.rec}, true
	}
	if err != nil {
		rev, err = p.landed(ctx, next, err)
	}
	if err != nil {
		return p.retry(err, 0), true
	}
	j.rec, j.rev = next, rev
	return Outcome{}, false
}

// landed tells whether a write of the job's record that failed with werr
// was stored all the same (its answer lost to a leader change or a
// partition), and returns its revision if so. A lease stored unseen names
// this delivery's owner, which no later delivery is: the next one would
// take it for another worker's, wait for it to end and reconcile a POST
// never sent. werr stands when the leader's entry is not the one written,
// or cannot be read.
func (p *Pipeline) landed(ctx context.Context, r *record.Record, werr error) (uint64, error) {
	rev, ok, err := p.store.Landed(ctx, p.d.Publisher, r)
	if err != nil || !ok {
		return 0, werr
	}
	return rev, nil
}

// reject moves a claimed record to rejected (nothing was sent upstream).
func (p *Pipeline) reject(ctx context.Context, j *job, problems []schema.Problem, now time.Time) (Outcome, bool) {
	next := *j.rec
	next.To(record.StateRejected, now, "invalid")
	p.rejectWith(j, &next, problems)
	next.Pending = nil
	j.uncount(&next)
	if _, err := p.store.Update(ctx, &next, j.rev); err != nil {
		return p.retry(err, 0), true
	}
	j.rec = &next
	p.releaseReservation(ctx, j) // once the record says so, as in fail
	return p.rejected(j), true
}

func (p *Pipeline) newRecord(j *job, now time.Time) *record.Record {
	r := &record.Record{Tenant: j.tenant, ID: j.sub.ID, Fingerprint: j.sub.Fingerprint(), Generation: 1,
		Metadata: j.sub.Metadata, Created: now}
	if j.svc != nil {
		r.Service, r.ServiceHash = j.svc.Name, j.svc.Hash
	}
	if j.prep != nil {
		price := j.prep.Price
		r.Price = &price
		if p.d.Gate != nil {
			r.PersonKey = p.d.Gate.PersonKey(j.tenant, j.svc, j.prep)
		}
	}
	r.To(record.StateClaimed, now, "")
	return r
}

// lease returns a pending attempt held by this job until AckWait from now.
func (p *Pipeline) lease(j *job, now time.Time) *record.Attempt {
	return &record.Attempt{Started: now, Owner: j.owner, Until: now.Add(p.lay.AckWait), Marked: p.cfg.Callback != nil, Seq: j.seq()}
}

func (p *Pipeline) rejected(j *job) Outcome {
	ev := j.rec.Status(record.StateRejected)
	reason := rejectionReason(j.rec.Errors)
	err := fmt.Errorf("invalid submission: %d problem(s): %s", len(j.rec.Errors), problemCodes(j.rec.Errors))
	if reason == dlq.ReasonPriorISEE {
		err = errors.New("no completed ISEE for this person through this tenant: replay it unchanged once the ordinary ISEE has completed")
	}
	return Outcome{Kind: Rejected, Reason: reason, Record: j.rec, Event: ev, Err: err}
}

// problemCodes lists the problems' distinct codes, sorted: what the dead
// letter and the log line say of a rejection (codes name no personal data).
func problemCodes(problems []publisher.Problem) string {
	codes := make([]string, 0, len(problems))
	for _, p := range problems {
		codes = append(codes, p.Code)
	}
	slices.Sort(codes)
	return strings.Join(slices.Compact(codes), ", ")
}

// rejectionReason is the dead-letter reason of a rejection: invalid, or
// prior_isee_required when the prior-ISEE rule alone refused it (the gate
// is asked only about input without other problems). That one is replayed
// unchanged once the person's ordinary ISEE has completed; invalid input
// needs correcting first. The problem that says the metadata was left out
// (CodeMetadataLeftOut) is not the input's: it decides nothing.
func rejectionReason(problems []publisher.Problem) string {
	if len(problems) == 0 {
		return dlq.ReasonInvalid
	}
	for _, p := range problems {
		if p.Code != dlq.ReasonPriorISEE && p.Code != CodeMetadataLeftOut {
			return dlq.ReasonInvalid
		}
	}
	return dlq.ReasonPriorISEE
}

func (p *Pipeline) failedAgain(j *job) Outcome {
	if j.rec.RequestID != "" { // failed after submission (tracking gave up): nothing to dead-letter again
		return Outcome{Kind: Done, Record: j.rec}
	}
	return Outcome{Kind: Failed, Reason: j.rec.Reason, Record: j.rec, Event: j.rec.Status(record.StateFailed),
		Err: errors.New("submission failed earlier: " + j.rec.Reason)}
}

// announceExisting re-announces a submission that already has its
// upstream request; finish makes sure it is tracked. A record a tracking
// replay reopened in submitted was announced by tracking, with the
// replay's id (record.Record.TrackedStatus): announced again with its
// plain id, which the submitted event before the give-up had, it would be
// deduplicated away within the window, and stored as another event after it.
//
// A record that lacks its service's name or hash is announced (and
// entered in the ledger) with the job's service, as adopt records it now;
// the stored record is left as it is.
func (p *Pipeline) announceExisting(j *job) Outcome {
	rec := j.rec
	if rec.ServiceHash == "" || rec.Service == "" {
		if filled := rec.Clone(); fillService(filled, j, nil) {
			rec = filled
		}
	}
	o := Outcome{Kind: Done, Record: rec}
	if rec.State == record.StateSubmitted {
		o.Event = rec.Status(record.StateSubmitted)
		if rec.Reopened() {
			o.Event = rec.TrackedStatus(record.StateSubmitted)
		}
	}
	return o
}

func (p *Pipeline) retry(err error, delay time.Duration) Outcome {
	if errors.Is(err, context.Canceled) {
		return Outcome{Kind: Interrupted, Err: err}
	}
	return Outcome{Kind: Retry, Err: err, Delay: delay}
}

func toPublisher(ps []schema.Problem) []publisher.Problem {
	out := make([]publisher.Problem, len(ps))
	for i, p := range ps {
		out[i] = publisher.Problem{Field: p.Field, Name: p.Name, Code: p.Code, Message: p.Message}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n-- // not within a character: a cut one reads as U+FFFD, or as \x escapes in a %q
	}
	return s[:n] + "…"
}
