package dlq

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"

	"github.com/nats-io/nats.go"
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
	q, all, track := gaveUpLetter(t, srv, res, 1)
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

// TestTwoCorrectionsOfOneLetterAtOnce: two operators correct one conflict
// letter at the same moment, each under a new id of their own. Each
// correction would be a new submission, sent and paid, and their message
// ids differ: only the letter's claim stops the second. One is published;
// the other operator is told it was replayed already (or, before the
// first is published, that another replay is under way). Both used to be
// published, and both commands said "replayed".
func TestTwoCorrectionsOfOneLetterAtOnce(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonConflict})
	// As consumer.ReplayMsgID: the id names the payload, then the token.
	q.msgID = func(_ string, payload []byte, token string) string {
		return fmt.Sprintf("%x.r%s", sha256.Sum256(payload), token)
	}
	ctx := context.Background()
	subs, err := q.js.Stream(ctx, q.layout.SubmissionsStream())
	if err != nil {
		t.Fatal(err)
	}
	other := *q
	var otherErr error
	q.stream = &secondReplayFirst{Stream: q.stream, other: func() {
		otherErr = other.ReplayWith(ctx, all[0].Seq, []byte(`{"id":"emp-y","service":"ISEE","fields":{"$0":"Mario"}}`))
	}}
	err = q.ReplayWith(ctx, all[0].Seq, []byte(`{"id":"emp-x","service":"ISEE","fields":{"$0":"Mario"}}`))
	info, ierr := subs.Info(ctx)
	if ierr != nil {
		t.Fatal(ierr)
	}
	if info.State.Msgs != 1 {
		t.Errorf("the submissions stream got %d corrections of the letter, want 1", info.State.Msgs)
	}
	if err != nil || !errors.Is(otherErr, ErrReplayedAlready) {
		t.Errorf("ReplayWith: got %v, and at the same time %v; want nil and %v", err, otherErr, ErrReplayedAlready)
	}
	if _, gerr := q.Get(ctx, all[0].Seq); !errors.Is(gerr, ErrNotFound) {
		t.Errorf("the letter after both: %v, want it gone", gerr)
	}
}

// TestReplayAfterAStoppedReplay: a replay that stopped after claiming its
// letter (killed) holds it only for claimStale, then the next replay takes
// it over; one that stopped after publishing, its letter not removed,
// makes the next replay remove the letter and publish nothing. A claim's
// age is the NATS server's (later: how far the server's clock has moved
// on since it stored the claim), never what the time the claim says is
// on this machine's clock: another operator's machine may be minutes
// off.
func TestReplayAfterAStoppedReplay(t *testing.T) {
	for _, tt := range []struct {
		name      string
		state     claimState
		later     time.Duration
		want      error
		published uint64
	}{
		{"claimed a moment ago", claimState{At: time.Now()}, 0, ErrReplayUnderWay, 0},
		{"claimed a moment ago by a machine whose clock is behind", claimState{At: time.Now().Add(-2 * claimStale)}, 0, ErrReplayUnderWay, 0},
		{"claimed long ago, never published", claimState{At: time.Now()}, 2 * claimStale, nil, 1},
		{"published, the letter not removed", claimState{At: time.Now().Add(-time.Hour), Published: true}, 0, ErrReplayedAlready, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonUpstreamRejected})
			server := q.serverNow
			q.serverNow = func(ctx context.Context) (time.Time, error) {
				now, err := server(ctx)
				return now.Add(tt.later), err
			}
			ctx := context.Background()
			l, err := q.Get(ctx, all[0].Seq)
			if err != nil {
				t.Fatal(err)
			}
			val, _ := json.Marshal(tt.state)
			if _, err := q.claims.Create(ctx, claimKey(l.Seq, l.Stored), val); err != nil {
				t.Fatal(err)
			}
			err = q.Replay(ctx, all[0].Seq)
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("Replay: got %v, want %v", err, tt.want)
			}
			subs, err := q.js.Stream(ctx, q.layout.SubmissionsStream())
			if err != nil {
				t.Fatal(err)
			}
			if info, err := subs.Info(ctx); err != nil || info.State.Msgs != tt.published {
				t.Errorf("replays published: %d (%v), want %d", info.State.Msgs, err, tt.published)
			}
			_, gerr := q.Get(ctx, all[0].Seq)
			if gone := errors.Is(gerr, ErrNotFound); gone != (tt.want != ErrReplayUnderWay) {
				t.Errorf("the letter: %v; want it gone %v", gerr, tt.want != ErrReplayUnderWay)
			}
		})
	}
}

// deleteHook is a DLQ stream that runs other just before its first
// removal of a letter.
type deleteHook = secondReplayFirst

// TestPurgeAndReplayOfOneLetterAtOnce: one operator purges a letter while
// another replays it. Whichever claims the letter first does what it was
// asked; the other is told, not "purged" for a letter whose replay
// reopens its submission, nor "replayed" for a purged one. Both used to
// succeed: the purge said "purged", and the submission reopened.
func TestPurgeAndReplayOfOneLetterAtOnce(t *testing.T) {
	t.Run("the purge while the replay removes the letter", func(t *testing.T) {
		q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonUpstreamRejected})
		ctx := context.Background()
		other := *q
		var purgeErr error
		q.stream = &deleteHook{Stream: q.stream, other: func() { purgeErr = other.Purge(ctx, all[0].Seq) }}
		err := q.Replay(ctx, all[0].Seq)
		if err != nil || !errors.Is(purgeErr, ErrReplayedAlready) {
			t.Errorf("Replay: got %v, and the purge at the same time %v; want nil and %v", err, purgeErr, ErrReplayedAlready)
		}
	})
	t.Run("the replay while the purge removes the letter", func(t *testing.T) {
		q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonUpstreamRejected})
		ctx := context.Background()
		other := *q
		var replayErr error
		q.stream = &deleteHook{Stream: q.stream, other: func() { replayErr = other.Replay(ctx, all[0].Seq) }}
		err := q.Purge(ctx, all[0].Seq)
		if err != nil || !errors.Is(replayErr, ErrReplayUnderWay) {
			t.Errorf("Purge: got %v, and the replay at the same time %v; want nil and %v", err, replayErr, ErrReplayUnderWay)
		}
		subs, serr := q.js.Stream(ctx, q.layout.SubmissionsStream())
		if serr != nil {
			t.Fatal(serr)
		}
		if info, ierr := subs.Info(ctx); ierr != nil || info.State.Msgs != 0 {
			t.Errorf("replays published: %+v (%v), want none: the letter was purged", info.State, ierr)
		}
	})
}

// storedUnanswered is a JetStream whose first publish is stored but
// answered with a timeout, as a publish whose answer a leader change or a
// cut connection lost.
type storedUnanswered struct {
	jetstream.JetStream
	done bool
}

func (s *storedUnanswered) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := s.JetStream.PublishMsg(ctx, m, opts...)
	if err != nil || s.done {
		return ack, err
	}
	s.done = true
	return nil, context.DeadlineExceeded
}

// TestCorrectionAfterAReplayThatMayHaveBeenStored: a correction of a
// conflict letter under a new id whose publish timed out (stored all the
// same) keeps its claim, which names its message id. After claimStale,
// another correction (another id: a second paid submission) is refused;
// the same correction again finds it stored and removes the letter; a
// purge may take the claim over. Before, the timed-out replay released
// its claim, and the second correction was published too.
func TestCorrectionAfterAReplayThatMayHaveBeenStored(t *testing.T) {
	corrX := []byte(`{"id":"emp-x","service":"ISEE","fields":{"$0":"Mario"}}`)
	corrY := []byte(`{"id":"emp-y","service":"ISEE","fields":{"$0":"Mario"}}`)
	for _, tt := range []struct {
		name       string
		then       func(q *Queue, seq uint64) error
		want       error
		letterGone bool
	}{
		{"another correction", func(q *Queue, seq uint64) error { return q.ReplayWith(context.Background(), seq, corrY) }, ErrReplayMaybePublished, false},
		{"the same correction again", func(q *Queue, seq uint64) error { return q.ReplayWith(context.Background(), seq, corrX) }, ErrReplayedAlready, true},
		{"a purge", func(q *Queue, seq uint64) error { return q.Purge(context.Background(), seq) }, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, seq := inDoubtCorrection(t, corrX)
			ctx := context.Background()
			err := tt.then(q, seq)
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("then: got %v, want %v", err, tt.want)
			}
			oneCorrectionStored(t, q)
			_, gerr := q.Get(ctx, seq)
			if gone := errors.Is(gerr, ErrNotFound); gone != tt.letterGone {
				t.Errorf("the letter: %v; want it gone %v", gerr, tt.letterGone)
			}
		})
	}
}

// TestPurgeKeepsTheNoteOfAReplayThatMayHaveBeenStored: a purge that takes
// over the claim of a correction whose publish is in doubt (it may have
// been stored) keeps the claim's note of that correction's message id,
// whether it then stops before its delete (killed: its claim goes stale)
// or its delete fails: another correction of the letter, under another
// id, is refused as it was before the purge. The purge wrote a claim of
// its own without the id and, its delete failed, removed it: the second
// correction was published too, a second paid submission of one letter.
func TestPurgeKeepsTheNoteOfAReplayThatMayHaveBeenStored(t *testing.T) {
	corrX := []byte(`{"id":"emp-x","service":"ISEE","fields":{"$0":"Mario"}}`)
	corrY := []byte(`{"id":"emp-y","service":"ISEE","fields":{"$0":"Mario"}}`)
	for _, tt := range []struct {
		name string
		// purge purges the letter, running another correction (then) at
		// the moment it fails or stops.
		purge func(t *testing.T, q *Queue, seq uint64, then func())
	}{
		{"the purge stops before its delete", func(t *testing.T, q *Queue, seq uint64, then func()) {
			p := *q
			p.stream = &deleteHook{Stream: q.stream, other: then} // the purge's claim is as a killed purge leaves it
			if err := p.Purge(context.Background(), seq); err != nil {
				t.Errorf("Purge: %v", err)
			}
		}},
		{"the purge's delete fails", func(t *testing.T, q *Queue, seq uint64, then func()) {
			ctx := context.Background()
			info, err := q.stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cfg := info.Config
			cfg.DenyDelete = true // the stream refuses every removal from now on
			if _, err := q.js.UpdateStream(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			if err := q.Purge(ctx, seq); err == nil {
				t.Error("Purge: got nil, want the stream's refusal to delete")
			}
			then()
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, seq := inDoubtCorrection(t, corrX)
			ctx := context.Background()
			var err error
			tt.purge(t, q, seq, func() { err = q.ReplayWith(ctx, seq, corrY) })
			if !errors.Is(err, ErrReplayMaybePublished) {
				t.Errorf("another correction after the purge: got %v, want %v", err, ErrReplayMaybePublished)
			}
			oneCorrectionStored(t, q)
		})
	}
}

// failingNote is a claims bucket whose updates fail after the first: the
// replay takes a stale claim over, then cannot note its message id (NATS
// trouble).
type failingNote struct {
	jetstream.KeyValue
	updates int
}

func (f *failingNote) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	if f.updates++; f.updates > 1 {
		return 0, nats.ErrTimeout
	}
	return f.KeyValue.Update(ctx, key, value, last)
}

// TestReplayKeepsTheNoteOfAReplayThatMayHaveBeenStored: a correction whose
// publish timed out (stored all the same) leaves a claim naming its id.
// The same correction, run again once the claim is stale, takes the claim
// over and fails before it publishes: its note cannot be written, or the
// letter cannot be read again (a timeout, not a letter gone). It must
// leave the claim as it found it: released, it let another correction,
// under another id, publish a second submission for the letter.
func TestReplayKeepsTheNoteOfAReplayThatMayHaveBeenStored(t *testing.T) {
	corrX := []byte(`{"id":"emp-x","service":"ISEE","fields":{"$0":"Mario"}}`)
	corrY := []byte(`{"id":"emp-y","service":"ISEE","fields":{"$0":"Mario"}}`)
	for _, tt := range []struct {
		name  string
		fault func(q *Queue) // makes the same correction, run again, fail
	}{
		{"its note fails", func(q *Queue) { q.claims = &failingNote{KeyValue: q.claims} }},
		{"the letter cannot be read again", func(q *Queue) { q.stream = &unreadLetter{Stream: q.stream} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, seq := inDoubtCorrection(t, corrX)
			ctx := context.Background()
			again := *q
			tt.fault(&again)
			if err := again.ReplayWith(ctx, seq, corrX); err == nil {
				t.Fatal("the same correction again: got nil, want an error")
			}
			if err := q.ReplayWith(ctx, seq, corrY); !errors.Is(err, ErrReplayMaybePublished) {
				t.Errorf("another correction: got %v, want %v", err, ErrReplayMaybePublished)
			}
			oneCorrectionStored(t, q)
		})
	}
}

// unreadLetter is a DLQ stream whose reads of a letter fail after the
// first (NATS trouble): the replay reads its letter, takes the claim, and
// cannot read the letter again.
type unreadLetter struct {
	jetstream.Stream
	reads int
}

func (u *unreadLetter) GetMsg(ctx context.Context, seq uint64, opts ...jetstream.GetMsgOpt) (*jetstream.RawStreamMsg, error) {
	if u.reads++; u.reads > 1 {
		return nil, nats.ErrTimeout
	}
	return u.Stream.GetMsg(ctx, seq, opts...)
}

// inDoubtCorrection returns a queue of one conflict letter (its sequence
// seq) whose correction payload was published, stored, and answered with
// a timeout: its claim names its id and may be taken over (the queue's
// clock puts every claim past claimStale).
func inDoubtCorrection(t *testing.T, payload []byte) (q *Queue, seq uint64) {
	t.Helper()
	q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonConflict})
	q.msgID = func(_ string, payload []byte, token string) string { // as consumer.ReplayMsgID
		return fmt.Sprintf("%x.r%s", sha256.Sum256(payload), token)
	}
	first := *q
	first.js = &storedUnanswered{JetStream: q.js}
	if err := first.ReplayWith(context.Background(), all[0].Seq, payload); err == nil {
		t.Fatal("the first correction: got nil, want its publish's timeout")
	}
	server := q.serverNow
	q.serverNow = func(ctx context.Context) (time.Time, error) { // every claim is stale
		now, err := server(ctx)
		return now.Add(2 * claimStale), err
	}
	return q, all[0].Seq
}

// oneCorrectionStored fails t unless the submissions stream holds one
// message: no second correction was published.
func oneCorrectionStored(t *testing.T, q *Queue) {
	t.Helper()
	ctx := context.Background()
	subs, err := q.js.Stream(ctx, q.layout.SubmissionsStream())
	if err != nil {
		t.Fatal(err)
	}
	if info, err := subs.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Errorf("corrections stored: %d (%v), want 1", info.State.Msgs, err)
	}
}

// notRemoved is a DLQ stream whose first delete fails: a replay whose
// letter could not be removed once its replay was published (NATS
// trouble), or that was killed between the two.
type notRemoved struct {
	jetstream.Stream
	failed bool
}

func (s *notRemoved) SecureDeleteMsg(ctx context.Context, seq uint64) error {
	if !s.failed {
		s.failed = true
		return errors.New("delete refused")
	}
	return s.Stream.SecureDeleteMsg(ctx, seq)
}

// TestPurgeOfALetterWhoseReplayWasNotRemoved: a replay published, its
// letter not removed (ErrNotRemoved), tells the operator to purge the
// letter. The purge removes it, saying it was replayed
// (ErrReplayedAlready), and the submission reopens once. The purge used
// to leave it in the queue, saying the replay would remove it: that
// replay had ended, and every purge said the same.
func TestPurgeOfALetterWhoseReplayWasNotRemoved(t *testing.T) {
	q, all := queueWith(t, [3]string{"acme", "emp-1", ReasonUpstreamRejected})
	ctx := context.Background()
	r := *q
	r.stream = &notRemoved{Stream: q.stream}
	if err := r.Replay(ctx, all[0].Seq); !errors.Is(err, ErrNotRemoved) {
		t.Fatalf("Replay: got %v, want %v", err, ErrNotRemoved)
	}
	if err := q.Purge(ctx, all[0].Seq); !errors.Is(err, ErrReplayedAlready) {
		t.Errorf("Purge: got %v, want %v: the letter was replayed, not purged", err, ErrReplayedAlready)
	}
	if left, err := q.List(ctx, Filter{}); err != nil || len(left) != 0 {
		t.Errorf("dead letters after the purge: got %+v (%v), want none: its replay was published", left, err)
	}
	if err := q.Purge(ctx, all[0].Seq); !errors.Is(err, ErrNotFound) {
		t.Errorf("a second purge: got %v, want %v", err, ErrNotFound)
	}
	subs, err := q.js.Stream(ctx, q.layout.SubmissionsStream())
	if err != nil {
		t.Fatal(err)
	}
	if info, err := subs.Info(ctx); err != nil || info.State.Msgs != 1 {
		t.Errorf("replays published: %+v (%v), want one", info.State, err)
	}
}
