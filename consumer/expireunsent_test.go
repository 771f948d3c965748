package consumer_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
)

// unreadableFiles is a files bucket that cannot be read (its stream
// offline, say).
type unreadableFiles struct{}

func (unreadableFiles) Open(context.Context, string, string) (io.ReadCloser, schema.FileInfo, error) {
	return nil, schema.FileInfo{}, errors.New("nats: timeout")
}

// unreachableCaps is a caps bucket that cannot be read.
type unreachableCaps struct{ *budget.Budgets }

func (unreachableCaps) Reserve(context.Context, string, string, money.Cents, time.Time) (budget.Reservation, error) {
	return budget.Reservation{}, errors.New("nats: timeout")
}

// TestTransientTroubleBeforeThePostExpires: a submission whose referenced
// files, or whose caps, cannot be read is handed back, and ends expired
// once its message is past ISEED_MAX_AGE, as docs/consumer.md says of
// transient trouble and as a submission whose service cannot be resolved
// does. It was handed back until ISEED_MAX_DELIVER ran out (days after
// ISEED_MAX_AGE at the defaults), then failed max_deliveries, which tells
// an operator to look for a crash.
func TestTransientTroubleBeforeThePostExpires(t *testing.T) {
	t.Parallel()
	files := pipetest.WithDeps(func(d *consumer.Deps) { d.Files = unreadableFiles{} })
	for _, c := range []struct {
		name string
		opt  func(h *harness) pipetest.Option
		ref  string // a file reference, if any
	}{
		{"its files unreadable", func(*harness) pipetest.Option { return files }, "cf.pdf|nats-os://iseed_files_acme/7781/cf.pdf"},
		{"its caps unreachable", func(h *harness) pipetest.Option {
			return h.withMoney(unreachableCaps{h.budgetsCapped(budget.Caps{DailyRequests: 10})})
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.Start(c.opt(h), pipetest.WithConfig(func(c *consumer.Config) { c.MaxAge = 2 * time.Second }))
			fields := pipetest.ValidFields("Mario")
			if c.ref != "" {
				fields["$6"] = c.ref
			}
			h.Publish(pipetest.Submission("emp-old", fields), nil)
			pipetest.WaitExplained(t, 15*time.Second, "the submission to fail", func() bool {
				r := h.Record("emp-old")
				return r != nil && r.State == record.StateFailed
			}, func() string {
				if r := h.Record("emp-old"); r != nil {
					return "its record is " + r.State
				}
				return "no record"
			})
			if r := h.Record("emp-old"); r.Reason != dlq.ReasonExpired || r.Attempts != 0 {
				t.Errorf("record: reason %q, %d attempts; want expired, none", r.Reason, r.Attempts)
			}
			pipetest.WaitFor(t, 10*time.Second, "the expired dead letter", func() bool {
				return slices.ContainsFunc(h.DeadLetters(), func(d dlq.DeadLetter) bool { return d.Reason == dlq.ReasonExpired })
			})
			if got := h.Counter("POST /richiesta"); got != 0 {
				t.Errorf("POSTs: got %d, want 0", got)
			}
		})
	}
}
