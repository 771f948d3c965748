package consumer

import (
	"context"

	"github.com/iseed-dev/iseed/dlq"
)

// deadLetter stores a copy of the message in the DLQ and waits for the
// stream's acknowledgement. Its Nats-Msg-Id makes repeats of the same
// failure one dead letter.
func (p *Pipeline) deadLetter(ctx context.Context, j *job, o Outcome) error {
	dl := p.deadLetterOf(j, j.msg.Subject(), o)
	return dlq.Publish(ctx, p.d.Publisher, p.lay, dl, j.msg.Data(), letterID(j, o, dl))
}

// letterID is the Nats-Msg-Id of the dead letter dl of a job's outcome o.
func letterID(j *job, o Outcome, dl dlq.DeadLetter) string {
	if o.Record != nil && o.Kind != Conflict { // one dead letter per submission, generation and reason
		return dlq.MsgIDAfterReplay(dl.Tenant, dl.SubmissionID, dl.Generation, o.Reason, j.replayed())
	}
	return dlq.MsgIDOfMessage(j.meta.Stream, j.meta.Sequence.Stream)
}

// replayed is the dead letter a letter of the job's record names after its
// id (dlq.MsgIDAfterReplay): 0 when none.
func (j *job) replayed() uint64 {
	switch {
	case j.spent:
		return j.replay // it could not reopen the record: its letter is gone
	case j.unverified != 0:
		// A replay taken as an ordinary message, its signature not
		// holding (the replay key rotated after it was signed): the
		// letter it names may be gone too. Whoever copies the header,
		// it is one letter per letter named.
		return j.unverified
	}
	return 0
}

// deadLetterOf describes the dead letter of a job's message.
func (p *Pipeline) deadLetterOf(j *job, subject string, o Outcome) dlq.DeadLetter {
	now := p.cfg.Now()
	dl := dlq.DeadLetter{
		OriginalSubject: subject, StreamSeq: j.meta.Sequence.Stream, Tenant: j.tenant,
		Reason: o.Reason, Deliveries: j.meta.NumDelivered, FirstFailure: now, LastFailure: now,
		SubmissionID: j.idOf(),
	}
	// Without a record the letter says what its event says (0, "before
	// any record", for a malformed message's rejection), else 0 too.
	if o.Event != nil {
		dl.Generation = o.Event.Generation
	}
	if o.Err != nil {
		dl.Error = o.Err.Error()
	}
	if r := o.Record; r != nil {
		dl.Generation = r.Generation
		if o.Kind != Conflict { // a conflict's record is the other payload's: this one was never sent
			dl.Attempts = r.Attempts
			if !r.FirstFailure.IsZero() {
				dl.FirstFailure = r.FirstFailure
			}
		}
	}
	return dl
}
