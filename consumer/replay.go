package consumer

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/nats-io/nats.go/jetstream"
)

// replayOf returns the dead-letter sequence an operator's replay names in
// its header, or 0 when the message is not a replay.
func replayOf(msg jetstream.Msg) uint64 {
	seq, err := strconv.ParseUint(msg.Headers().Get(dlq.ReplayHeader), 10, 64)
	if err != nil {
		return 0
	}
	return seq
}

// replayable reports whether the message is an operator's replay of a
// failed or rejected submission that has not been replayed from that dead
// letter yet.
func (p *Pipeline) replayable(j *job) bool {
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

// reopen starts a new generation of a failed or rejected submission.
func (p *Pipeline) reopen(ctx context.Context, j *job, problems []schema.Problem, now time.Time) (Outcome, bool) {
	if len(problems) > 0 && j.rec.Pending != nil {
		return p.failedAgain(j), true // still unreconcilable: a person must decide
	}
	next := *j.rec.Clone()
	next.Generation++
	next.Reason, next.Errors = "", nil
	next.AddReplay(j.replay, now)
	note := fmt.Sprintf("replay of dead letter %d", j.replay)
	if len(problems) > 0 {
		next.To(record.StateRejected, now, note)
		next.Errors = toPublisher(problems)
	} else {
		next.To(record.StateClaimed, now, note)
		j.unsure = j.rec.Pending != nil
		if !j.unsure {
			next.Attempts++
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
