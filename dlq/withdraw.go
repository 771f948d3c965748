package dlq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// Withdraw removes the dead letters of one failure that turned out not to
// be one: those stored on subject (one submission's) whose Nats-Msg-Id is
// id (MsgID's) or id after a replay (MsgIDAfterReplay's, id followed by
// ".r<sequence>"). Letters of other submissions, generations or reasons
// have other ids and stay. It reports how many it removed; one removed
// meanwhile by someone else (a second withdrawal, an operator) is not an
// error. Like Purge, it overwrites the letters' bytes on disk.
func Withdraw(ctx context.Context, stream jetstream.Stream, subject, id string) (int, error) {
	n := 0
	for seq := uint64(1); ; seq++ {
		// The first letter on subject at or after seq: a submission has
		// few, so this reads only them.
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("dlq: read the dead letters on %s: %w", subject, err)
		}
		seq = m.Sequence
		if !sameFailure(m.Header.Get(jetstream.MsgIDHeader), id) {
			continue
		}
		if err := stream.SecureDeleteMsg(ctx, seq); err != nil {
			// The server answers a delete of a missing message with a
			// generic failure: ask whether it is still there.
			if _, gerr := stream.GetMsg(ctx, seq); !errors.Is(gerr, jetstream.ErrMsgNotFound) {
				return n, fmt.Errorf("dlq: withdraw dead letter %d: %w", seq, err)
			}
			continue
		}
		n++
	}
}

// sameFailure reports whether msgID, a stored letter's Nats-Msg-Id, is id
// or id after a replay (MsgIDAfterReplay).
func sameFailure(msgID, id string) bool {
	if msgID == id {
		return true
	}
	rest, ok := strings.CutPrefix(msgID, id+".r")
	if !ok {
		return false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return err == nil && n > 0 && strconv.FormatUint(n, 10) == rest
}
