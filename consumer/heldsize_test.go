package consumer_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/rs/zerolog"
)

// TestSizeLimitLoweredUnderAHold: a held submission whose message is
// larger than the submissions stream takes once its size limit was lowered
// (by an operator, or a replica started with a smaller max_payload) cannot
// be released: the stream refuses the release (10054, message size exceeds
// maximum allowed), or the pipeline would reject it as too large. It was
// retried every pass for good, a warning a second, the submission held
// past its maximum age and its tenant's later holds queued behind it,
// its producer never told. It is failed instead, as the pipeline rejects a
// message too large to be released (reason malformed, naming the limit),
// with a dead letter of its message and a failed event; nothing is sent
// for it, and the tenant's next hold goes.
func TestSizeLimitLoweredUnderAHold(t *testing.T) {
	tests := []struct {
		name  string
		limit func(size int) int32 // the stream's MaxMsgSize, lowered
		read  bool                 // the pipeline reads the lowered limit before the release (else it learns it from the refusal)
	}{
		{"refused by the stream", func(size int) int32 { return int32(size) }, false},
		{"refused by the stream, the limit read", func(size int) int32 { return int32(size) }, true},
		{"stored, over the limit read", func(size int) int32 { return int32(size + 512) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			ctx := context.Background()
			b := h.budgetsCapped(oneEuroADay)
			var logs pipetest.Buffer
			h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
				c.HoldPoll = 100 * time.Millisecond
				c.Logger = zerolog.New(&logs)
			}))
			fields := pipetest.ValidFields("Mario")
			fields["$6"] = "cf.pdf|data:application/pdf;base64," + strings.Repeat("QUFB", 10<<10)
			data := pipetest.Submission("emp-big", fields)
			h.Publish(data, nil)
			h.WaitState("emp-big", record.StateHeld)
			h.Publish(pipetest.Submission("emp-next", pipetest.ValidFields("Luigi")), nil)
			h.WaitState("emp-next", record.StateHeld)
			pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })

			cfg := h.Res.Submissions.CachedInfo().Config
			cfg.MaxMsgSize = tc.limit(len(data))
			if _, err := h.NATS.JS.UpdateStream(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			if tc.read {
				if _, err := h.Res.Submissions.Info(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ample, _ := money.FromFloat(100)
			if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
				t.Fatal(err)
			}

			var r *record.Record
			pipetest.WaitExplained(t, 10*time.Second, "emp-big to be failed", func() bool {
				r = h.Record("emp-big")
				return r != nil && r.State == record.StateFailed
			}, func() string {
				return fmt.Sprintf("state %s (%s), %d warnings %q", r.State, r.Reason,
					strings.Count(logs.String(), "held submission not released yet"), "held submission not released yet; retrying")
			})
			want := fmt.Sprintf("a submission may be at most %d", int(cfg.MaxMsgSize)-1024)
			if r.Reason != dlq.ReasonMalformed || len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, want) {
				t.Errorf("record: got reason %q, errors %+v, want %s naming the limit (%q)", r.Reason, r.Errors, dlq.ReasonMalformed, want)
			}
			if r.Attempts != 0 {
				t.Errorf("record: got %d attempts, want 0: nothing was sent", r.Attempts)
			}
			pipetest.WaitFor(t, 10*time.Second, "emp-big's failed event", func() bool { return len(h.Events("emp-big")) == 2 })
			if evs := h.Events("emp-big"); evs[1].Type != "iseed.submission.failed" || !strings.Contains(string(evs[1].Data), want) {
				t.Errorf("event: got %s %.300s, want failed, naming the limit", evs[1].Type, evs[1].Data)
			}
			dls := h.DeadLetters()
			if len(dls) != 1 || dls[0].SubmissionID != "emp-big" || dls[0].Reason != dlq.ReasonMalformed || dls[0].Generation != 1 {
				t.Fatalf("dead letters: got %+v, want one of emp-big, malformed, generation 1", dls)
			}
			l, err := h.Queue().Get(ctx, dls[0].Seq)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(l.Payload, data) {
				t.Errorf("dead letter's payload: got %d bytes, want the held message's %d", len(l.Payload), len(data))
			}
			h.WaitState("emp-next", record.StateSubmitted)
			if got := h.Counter("POST /richiesta"); got != 1 {
				t.Errorf("POSTs: got %d, want 1 (emp-next's)", got)
			}
			if got := strings.Count(logs.String(), "held submission not released yet"); got > 0 {
				t.Errorf("got %d warnings %q, want none", got, "held submission not released yet; retrying")
			}
		})
	}
}

// gatedUpstream holds every POST until open is closed; entered receives
// one value per POST that waits.
type gatedUpstream struct {
	consumer.Upstream
	entered chan struct{}
	open    chan struct{}
}

func (u *gatedUpstream) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	u.entered <- struct{}{}
	<-u.open
	return u.Upstream.CreateRichiesta(ctx, req)
}

// TestSizeLimitLoweredUnderAReleasedHold: a held submission released
// before the size limit was lowered, whose release a delivery took over
// and is POSTing, is not failed as too large to be released: that
// delivery's POST may create (and charge) the request. It is submitted.
func TestSizeLimitLoweredUnderAReleasedHold(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	up := &gatedUpstream{Upstream: h.Client, entered: make(chan struct{}, 1), open: make(chan struct{})}
	var logs pipetest.Buffer
	h.Start(h.withMoney(b), pipetest.WithUpstream(up), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 100 * time.Millisecond
		c.CallTimeout = time.Minute
		c.Logger = zerolog.New(&logs)
	}))
	fields := pipetest.ValidFields("Mario")
	fields["$6"] = "cf.pdf|data:application/pdf;base64," + strings.Repeat("QUFB", 10<<10)
	data := pipetest.Submission("emp-big", fields)
	h.Publish(data, nil)
	h.WaitState("emp-big", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	ample, _ := money.FromFloat(100)
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyEUR: ample}); err != nil {
		t.Fatal(err)
	}
	select { // released, taken over: its POST waits
	case <-up.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for emp-big's POST")
	}
	cfg := h.Res.Submissions.CachedInfo().Config
	cfg.MaxMsgSize = int32(len(data) + 512)
	if _, err := h.NATS.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Res.Submissions.Info(ctx); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitExplained(t, 10*time.Second, "the hold found too large while a delivery has it", func() bool {
		return strings.Contains(logs.String(), "a delivery has it") || h.Record("emp-big").State != record.StateHeld
	}, func() string { return "state " + h.Record("emp-big").State })
	close(up.open)
	r := h.WaitState("emp-big", record.StateSubmitted)
	if r.Attempts != 1 {
		t.Errorf("attempts: got %d, want 1", r.Attempts)
	}
	h.WaitLastEvent("emp-big", "iseed.submission.submitted") // stored after the record says so
	if evs := h.EventTypes("emp-big"); len(evs) != 2 || evs[1] != "iseed.submission.submitted" {
		t.Errorf("events: got %v, want held then submitted", evs)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: got %+v, want none", dls)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// TestEndedHoldIsAnnouncedAfterAnInterruptedPass: a pass that failed a
// held submission too large to be released (its record failed, reason
// malformed) and stopped before its dead letter, event and key (a crash,
// NATS trouble) is finished by the next pass. The next pass took the key
// for a submission released already and removed it: the record said
// failed, and its producer and operators never heard of it.
func TestEndedHoldIsAnnouncedAfterAnInterruptedPass(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgetsCapped(oneEuroADay)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	data := pipetest.Submission("emp-cut", pipetest.ValidFields("Mario"))
	h.Publish(data, nil)
	h.WaitState("emp-cut", record.StateHeld)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	// What the interrupted pass left: the record failed, the key still there.
	failHeldByHand(t, h, "emp-cut", dlq.ReasonMalformed, "the submissions stream's size limit was lowered while it was held")
	pipetest.WaitFor(t, 10*time.Second, "emp-cut's failed event", func() bool { return len(h.Events("emp-cut")) == 2 })
	if evs := h.EventTypes("emp-cut"); evs[1] != "iseed.submission.failed" {
		t.Errorf("events: got %v, want held then failed", evs)
	}
	pipetest.WaitFor(t, 10*time.Second, "emp-cut's dead letter", func() bool { return len(h.DeadLetters()) == 1 })
	dl := h.DeadLetters()[0]
	if dl.SubmissionID != "emp-cut" || dl.Reason != dlq.ReasonMalformed || dl.Generation != 1 {
		t.Errorf("dead letter: got %+v, want emp-cut's, malformed, generation 1", dl)
	}
	if l, err := h.Queue().Get(ctx, dl.Seq); err != nil || !bytes.Equal(l.Payload, data) {
		t.Errorf("dead letter's payload: got %v, want the held message", err)
	}
	pipetest.WaitFor(t, 10*time.Second, "the hold's key removed", func() bool {
		keys, err := h.Res.Holds.ListKeys(ctx)
		if err != nil {
			return false
		}
		n := 0
		for range keys.Keys() {
			n++
		}
		return n == 0
	})
}

// failHeldByHand writes submission id's record failed with reason and
// message, its hold key left in place: as a pass, or a release's delivery,
// that stopped before announcing it leaves it.
func failHeldByHand(t *testing.T, h *harness, id, reason, message string) {
	t.Helper()
	ctx := context.Background()
	store := record.NewStore(h.Res.Records)
	rec, rev, err := store.Get(ctx, pipetest.Tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec.To(record.StateFailed, now, reason)
	rec.Reason = reason
	rec.Errors = []publisher.Problem{{Code: reason, Message: message}}
	rec.FailedAt(now)
	if _, err := store.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
}
