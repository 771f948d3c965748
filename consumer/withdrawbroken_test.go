package consumer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// TestBrokenWithdrawalIsRefusedMalformed: a withdrawal that
// starts with a byte order mark (as .NET and PowerShell writers put one),
// holds bytes that are not UTF-8, or breaks off after its "withdraw", is a
// withdrawal all the same: a message with a top-level member "withdraw"
// (docs/events.md), refused malformed with a notice. It was
// taken for a malformed submission: of a submission iseed has, its
// producer heard nothing at all, and of one not recorded yet, it was told
// that the submission was rejected (a rejected event of generation 0).
func TestBrokenWithdrawalIsRefusedMalformed(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.WithdrawWait = time.Second }))
	h.Publish(pipetest.Submission("emp-sent", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-sent", record.StateSubmitted)
	for _, c := range []struct {
		name, id string
		data     []byte
		gen      int
	}{
		{"a byte order mark, its submission sent", "emp-sent", append([]byte("\uFEFF"), withdrawal("emp-sent")...), 1},
		{"a byte order mark, no submission", "emp-none", append([]byte("\uFEFF"), withdrawal("emp-none")...), 0},
		{"not UTF-8", "emp-bad", []byte(`{"id":"emp-bad","withdraw":true,"version":1}` + "\xff "), 0},
		{"cut short after its withdraw", "emp-cut", []byte(`{"id":"emp-cut","withdraw":true,"vers`), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			h.Publish(c.data, nil)
			var n publisher.Status
			pipetest.WaitExplained(t, 10*time.Second, "a withdrawal_refused notice", func() bool {
				ns := h.notices(pipetest.Tenant, c.id)
				if len(ns) > 0 {
					n = ns[len(ns)-1]
				}
				return len(ns) > 0
			}, func() string { return "its events: " + strings.Join(h.EventTypes(c.id), ", ") })
			if n.Reason != consumer.WithdrawMalformed || n.Generation != c.gen || len(n.Errors) != 1 {
				t.Errorf("notice %+v; want reason malformed, generation %d, one problem", n, c.gen)
			}
			for _, typ := range h.EventTypes(c.id) {
				if typ == publisher.StatusType(publisher.StateRejected) {
					t.Errorf("events: %v; want no rejected event: no submission was rejected", h.EventTypes(c.id))
				}
			}
		})
	}
}
