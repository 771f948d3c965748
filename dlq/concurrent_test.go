package dlq

import (
	"context"
	"errors"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"

	"github.com/nats-io/nats.go/jetstream"
)

// secondReplayFirst is a DLQ stream where another operator's replay of the
// same letter runs whole between this replay's publish and its removal of
// the letter: two terminals replaying one letter at the same moment.
type secondReplayFirst struct {
	jetstream.Stream
	other func()
}

func (s *secondReplayFirst) SecureDeleteMsg(ctx context.Context, seq uint64) error {
	if other := s.other; other != nil {
		s.other = nil
		other()
	}
	return s.Stream.SecureDeleteMsg(ctx, seq)
}

// TestTwoReplaysOfOneLetterAtOnce: two operators replay one dead letter
// at the same moment. One replay reaches the submissions stream, the
// other is dropped as its duplicate and its operator told so, not
// "replayed": the letter was replayed once. With random message ids both
// were stored and both commands said "replayed".
func TestTwoReplaysOfOneLetterAtOnce(t *testing.T) {
	for _, edited := range []bool{false, true} {
		name := map[bool]string{false: "unchanged", true: "the same correction"}[edited]
		t.Run(name, func(t *testing.T) {
			q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonUpstreamRejected})
			ctx := context.Background()
			subs, err := q.js.Stream(ctx, q.layout.SubmissionsStream())
			if err != nil {
				t.Fatal(err)
			}
			before, err := subs.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var payload []byte
			if edited {
				payload = []byte(`{"id":"emp-1","service":"ISEE","fields":{"$0":"Maria"}}`)
			}
			other := *q
			var otherErr error
			q.stream = &secondReplayFirst{Stream: q.stream, other: func() { otherErr = other.ReplayWith(ctx, all[0].Seq, payload) }}
			err = q.ReplayWith(ctx, all[0].Seq, payload)
			after, ierr := subs.Info(ctx)
			if ierr != nil {
				t.Fatal(ierr)
			}
			if n := after.State.Msgs - before.State.Msgs; n != 1 {
				t.Errorf("the submissions stream got %d replays of the letter, want 1", n)
			}
			if err != nil || !errors.Is(otherErr, ErrReplayedAlready) {
				t.Errorf("Replay: got %v, and at the same time %v; want nil and %v", err, otherErr, ErrReplayedAlready)
			}
			if _, gerr := q.Get(ctx, all[0].Seq); !errors.Is(gerr, ErrNotFound) {
				t.Errorf("the letter after both replays: %v, want it gone", gerr)
			}
		})
	}
}

// TestTwoReplaysOfATrackingLetterAtOnce: the second of two replays of a
// gave_up letter at once may come after the tracker has taken the first's
// task (the tracking stream is a work queue: a task goes once
// acknowledged). The stream still drops it as a duplicate, and the message
// it repeats, gone, can only have been the letter's replay (its id holds
// the letter's token): the operator is told it was replayed already, not
// that the letter is kept (the first replay removes it).
func TestTwoReplaysOfATrackingLetterAtOnce(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	subject := res.Layout.TrackSubject("acme", "emp-1")
	dl := DeadLetter{OriginalSubject: subject, StreamSeq: 1, Tenant: "acme", SubmissionID: "emp-1",
		Reason: ReasonGaveUp, Error: "e", Generation: 1}
	if err := Publish(ctx, srv.JS, res.Layout, dl, []byte(`{"task":1}`), MsgID("acme", "emp-1", 1, ReasonGaveUp)); err != nil {
		t.Fatal(err)
	}
	q := NewQueue(srv.JS, res, []byte("0123456789abcdef0123456789abcdef"), nil)
	all, err := q.List(ctx, Filter{})
	if err != nil || len(all) != 1 {
		t.Fatalf("List: %v, %v", all, err)
	}
	track, err := srv.JS.Stream(ctx, res.Layout.TrackStream())
	if err != nil {
		t.Fatal(err)
	}
	other := *q
	var otherErr error
	q.stream = &secondReplayFirst{Stream: q.stream, other: func() {
		m, err := track.GetLastMsgForSubject(ctx, subject) // the tracker takes the first replay's task
		if err != nil {
			t.Errorf("the first replay's task: %v", err)
			return
		}
		if err := track.DeleteMsg(ctx, m.Sequence); err != nil {
			t.Error(err)
		}
		otherErr = other.Replay(ctx, all[0].Seq)
	}}
	err = q.Replay(ctx, all[0].Seq)
	if err != nil || !errors.Is(otherErr, ErrReplayedAlready) {
		t.Errorf("Replay: got %v, and at the same time %v; want nil and %v", err, otherErr, ErrReplayedAlready)
	}
	if info, err := track.Info(ctx); err != nil || info.State.Msgs != 0 {
		t.Errorf("tracking tasks after both: %+v (%v), want none: the second replay was not stored", info.State, err)
	}
	if _, gerr := q.Get(ctx, all[0].Seq); !errors.Is(gerr, ErrNotFound) {
		t.Errorf("the letter after both replays: %v, want it gone", gerr)
	}
}
