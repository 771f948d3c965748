package dlq

import (
	"context"
	"slices"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
)

// TestWithdraw: Withdraw removes the letters of one failure on one
// submission's subject, its repeats after replays included, and nothing
// else: not another generation's, reason's or submission's, not a letter
// whose id only looks like a replay's.
func TestWithdraw(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layout
	id := MsgID("acme", "a1", 1, ReasonGaveUp)
	letters := []struct {
		name, sub, msgID string
		gone             bool
	}{
		{"the failure's", "a1", id, true},
		{"after a replay", "a1", MsgIDAfterReplay("acme", "a1", 1, ReasonGaveUp, 7), true},
		{"another generation", "a1", MsgID("acme", "a1", 2, ReasonGaveUp), false},
		{"another reason", "a1", MsgID("acme", "a1", 1, ReasonAmbiguous), false},
		{"not a replay's suffix", "a1", id + ".rx", false},
		{"a zero-padded sequence", "a1", id + ".r07", false},
		{"another submission", "a12", MsgID("acme", "a12", 1, ReasonGaveUp), false},
	}
	for i, lt := range letters {
		dl := DeadLetter{OriginalSubject: l.TrackSubject("acme", lt.sub), StreamSeq: uint64(i + 1), Tenant: "acme",
			SubmissionID: lt.sub, Reason: ReasonGaveUp, Generation: 1}
		if err := Publish(ctx, srv.JS, l, dl, []byte(lt.name), lt.msgID); err != nil {
			t.Fatal(err)
		}
	}
	n, err := Withdraw(ctx, res.DLQ, l.DLQSubject("acme", "a1"), id)
	if err != nil || n != 2 {
		t.Errorf("Withdraw: got %d, %v; want 2, nil", n, err)
	}
	var got, want []string
	for i := range letters {
		if _, err := res.DLQ.GetMsg(ctx, uint64(i+1)); err != nil {
			got = append(got, letters[i].name)
		}
		if letters[i].gone {
			want = append(want, letters[i].name)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("removed: got %v, want %v", got, want)
	}
	if n, err := Withdraw(ctx, res.DLQ, l.DLQSubject("acme", "a1"), id); err != nil || n != 0 {
		t.Errorf("Withdraw again: got %d, %v; want 0, nil", n, err)
	}
}
