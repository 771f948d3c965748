package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"
)

// withdrawal is a producer's withdrawal of submission id.
func withdrawal(id string) []byte {
	return []byte(`{"version":1,"id":"` + id + `","withdraw":true}`)
}

// notices returns the withdrawal_refused events about tenant's submission
// id, oldest first.
func (h *harness) notices(tenant, id string) []publisher.Status {
	h.T.Helper()
	l := h.Res.Layout
	raws, err := publisher.ReadEvents(context.Background(), h.NATS.JS, l.EventsStream(), l.Events(), tenant, id)
	if err != nil {
		h.T.Fatal(err)
	}
	var out []publisher.Status
	for _, raw := range raws {
		var ev struct {
			Type string           `json:"type"`
			Data publisher.Status `json:"data"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			h.T.Fatal(err)
		}
		if ev.Type == publisher.StatusType(publisher.StateWithdrawalRefused) {
			out = append(out, ev.Data)
		}
	}
	return out
}

// waitNotice waits for a withdrawal_refused notice about tenant's
// submission id and returns the last.
func (h *harness) waitNotice(tenant, id string) publisher.Status {
	h.T.Helper()
	var ns []publisher.Status
	pipetest.WaitFor(h.T, 20*time.Second, "a withdrawal_refused notice about "+tenant+"/"+id, func() bool {
		ns = h.notices(tenant, id)
		return len(ns) > 0
	})
	return ns[len(ns)-1]
}

// TestWithdrawHeldSubmission: a producer withdraws its own submission that
// a spending cap holds back, with a withdrawal on its submissions subject:
// it is failed withdrawn at once (not at the next cap period, nor at
// ISEED_MAX_AGE), marked as its producer's, with its failed event and dead
// letter, its hold key gone, nothing sent. A second withdrawal changes
// nothing and refuses nothing: it is withdrawn already.
func TestWithdrawHeldSubmission(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.budgetsCapped(oneEuroADay)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) { c.HoldPoll = 100 * time.Millisecond }))
	h.publishHeld("emp-h")

	h.Publish(withdrawal("emp-h"), nil)
	r := h.WaitState("emp-h", record.StateFailed)
	if r.Reason != dlq.ReasonWithdrawn || r.CancelledBy != record.CancelledByTenant || r.RequestID != "" || r.Attempts != 0 {
		t.Fatalf("emp-h: reason %q, cancelled by %q, request %q, attempts %d; want %s, %s, none, 0",
			r.Reason, r.CancelledBy, r.RequestID, r.Attempts, dlq.ReasonWithdrawn, record.CancelledByTenant)
	}
	h.WaitLastEvent("emp-h", publisher.StatusType(publisher.StateFailed))
	evs := h.Events("emp-h")
	var st publisher.Status
	if err := json.Unmarshal(evs[len(evs)-1].Data, &st); err != nil || st.Reason != dlq.ReasonWithdrawn || !strings.Contains(st.Errors[0].Message, "its producer") {
		t.Errorf("the failed event's data is %s (%v); want reason %s, saying its producer withdrew it", evs[len(evs)-1].Data, err, dlq.ReasonWithdrawn)
	}
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 10*time.Second, "emp-h's dead letter", func() bool {
		dls = h.DeadLetters()
		return len(dls) > 0
	})
	if len(dls) != 1 || dls[0].Reason != dlq.ReasonWithdrawn || dls[0].SubmissionID != "emp-h" {
		t.Errorf("dead letters %+v; want emp-h's alone, %s", dls, dlq.ReasonWithdrawn)
	}
	pipetest.WaitFor(t, 10*time.Second, "emp-h's hold key removed", func() bool {
		keys, err := h.holdKeys()
		return err == nil && len(keys) == 0
	})

	h.Publish(withdrawal("emp-h"), nil)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	if ns := h.notices(pipetest.Tenant, "emp-h"); len(ns) != 0 {
		t.Errorf("notices %+v; want none: withdrawn already", ns)
	}
	if got := h.Counter("created"); got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
}

// TestWithdrawalRefused: a withdrawal changes nothing but a held
// submission, and tells its producer why in a withdrawal_refused notice
// (a notice, not a state: the submission's own events are untouched): too
// late for one sent, unknown for one never received (after WithdrawWait), malformed for a withdrawal that is
// not one (other members, withdraw not true, a guessable message id). A
// withdrawal that names no id is dead-lettered malformed, as any message
// without one.
func TestWithdrawalRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.WithdrawWait = time.Second }))
	h.Publish(pipetest.Submission("emp-sent", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-sent", record.StateSubmitted)
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	sentEvents := len(h.Events("emp-sent"))
	if sentEvents == 0 {
		t.Fatalf("events before the withdrawals: %d; want some", sentEvents)
	}

	msgID := func(id string) nats.Header { return nats.Header{jetstream.MsgIDHeader: []string{id}} }
	for _, c := range []struct {
		name, id string
		data     []byte
		hdr      nats.Header
		code     string
		gen      int
	}{
		{"sent", "emp-sent", withdrawal("emp-sent"), nil, consumer.WithdrawTooLate, 1},
		{"unknown", "emp-none", withdrawal("emp-none"), nil, consumer.WithdrawUnknown, 0},
		{"with its own message id", "emp-none2", withdrawal("emp-none2"), msgID("acme.withdraw.7f3c1e"), consumer.WithdrawUnknown, 0},
		{"with its own message id, of the earlier form", "emp-none3", withdrawal("emp-none3"), msgID("acme.emp-none3.withdraw.9a2b"), consumer.WithdrawUnknown, 0},
		{"other members", "emp-m1", []byte(`{"id":"emp-m1","withdraw":true,"service":"ISEE"}`), nil, consumer.WithdrawMalformed, 0},
		{"withdraw not true", "emp-m2", []byte(`{"id":"emp-m2","withdraw":"yes"}`), nil, consumer.WithdrawMalformed, 0},
		{"version 2", "emp-m3", []byte(`{"version":2,"id":"emp-m3","withdraw":true}`), nil, consumer.WithdrawMalformed, 0},
		{"a member twice", "emp-m4", []byte(`{"id":"emp-m4","withdraw":false,"withdraw":true}`), nil, consumer.WithdrawMalformed, 0},
		{"larger than a withdrawal", "emp-m5", []byte(`{"id":"emp-m5","withdraw":true` + strings.Repeat(" ", 2<<10) + `}`), nil, consumer.WithdrawMalformed, 0},
		{"a guessable message id", "emp-sent", withdrawal("emp-sent"), msgID("acme.emp-sent.withdraw"), consumer.WithdrawMalformed, 1},
		{"a message id without its suffix", "emp-sent", withdrawal("emp-sent"), msgID("acme.withdraw."), consumer.WithdrawMalformed, 1},
	} {
		before := len(h.notices(pipetest.Tenant, c.id))
		h.Publish(c.data, c.hdr)
		var n publisher.Status
		pipetest.WaitFor(t, 20*time.Second, c.name+": a new notice about "+c.id, func() bool {
			ns := h.notices(pipetest.Tenant, c.id)
			if len(ns) > before {
				n = ns[len(ns)-1]
			}
			return len(ns) > before
		})
		if n.Reason != c.code || n.Generation != c.gen || n.Tenant != pipetest.Tenant || len(n.Errors) != 1 || n.Errors[0].Code != c.code || n.Errors[0].Message == "" {
			t.Errorf("%s: notice %+v; want reason %s, generation %d, one problem saying why", c.name, n, c.code, c.gen)
		}
	}
	if r := h.Record("emp-sent"); r.State == record.StateFailed || !r.CancelRequested.IsZero() {
		t.Errorf("emp-sent: %s, cancel requested %s; want it left as it was", r.State, r.CancelRequested)
	}
	for _, id := range []string{"emp-none", "emp-m1"} {
		if r := h.Record(id); r != nil {
			t.Errorf("%s: a record %+v; want none", id, r)
		}
	}
	if n := h.waitNotice(pipetest.Tenant, "emp-sent"); len(n.Metadata) == 0 {
		t.Errorf("emp-sent's notice has no metadata; want the submission's")
	}
	ownEvents := func(id string) int {
		n := 0
		for _, ev := range h.Events(id) {
			if ev.Type != publisher.StatusType(publisher.StateWithdrawalRefused) {
				n++
			}
		}
		return n
	}
	if got := ownEvents("emp-sent"); got != sentEvents {
		t.Errorf("the submission's own events: %d; want %d, untouched", got, sentEvents)
	}

	h.Publish([]byte(`{"withdraw":true}`), nil)
	pipetest.WaitFor(t, 10*time.Second, "the withdrawal without an id dead-lettered", func() bool {
		return slices.ContainsFunc(h.DeadLetters(), func(d dlq.DeadLetter) bool { return d.Reason == dlq.ReasonMalformed })
	})
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want emp-sent's alone", got)
	}
}

// TestWithdrawalIsTheTenantsOwn: a tenant's withdrawal names a submission
// of its own, whatever another tenant calls its own: globex withdrawing
// "emp-x" leaves acme's held emp-x held and unmarked, and globex hears
// that it has no such submission.
func TestWithdrawalIsTheTenantsOwn(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	b := h.budgetsCapped(oneEuroADay)
	h.Start(h.withMoney(b), pipetest.WithConfig(func(c *consumer.Config) {
		c.HoldPoll = 100 * time.Millisecond
		c.WithdrawWait = time.Second
	}))
	h.publishHeld("emp-x")
	h.publishAs("globex", withdrawal("emp-x"), "")
	if n := h.waitNotice("globex", "emp-x"); n.Reason != consumer.WithdrawUnknown || n.Tenant != "globex" || len(n.Metadata) != 0 {
		t.Errorf("globex's notice %+v; want unknown, globex's, without acme's metadata", n)
	}
	if r := h.Record("emp-x"); r.State != record.StateHeld || !r.CancelRequested.IsZero() {
		t.Errorf("acme's emp-x: %s, cancel requested %s; want held, unmarked", r.State, r.CancelRequested)
	}
	if ns := h.notices(pipetest.Tenant, "emp-x"); len(ns) != 0 {
		t.Errorf("acme's notices %+v; want none", ns)
	}
}

// TestWithdrawWhileWaitingForItsToken: without spending caps, a
// submission behind the upstream budget is claimed by a worker that waits
// for its token under an Unsent lease; its producer withdraws it
// meanwhile. The mark ends that lease: the worker, whose next renewal of
// it fails, hands the message back without sending anything, and the next
// delivery fails the submission withdrawn at once, not when the lease
// would have run out (AckWait, 30 s here, from its last renewal).
func TestWithdrawWhileWaitingForItsToken(t *testing.T) {
	t.Parallel()
	l := pipetest.DefaultLayout()
	l.AckWait = 30 * time.Second
	h := &harness{pipetest.NewWithLayout(t, sim.Config{Step: time.Hour, Wallet: 1e7}, 2*time.Second, l)}
	lim := &armedLimiter{entered: make(chan struct{}), gate: make(chan struct{})}
	lim.armed.Store(true)
	defer close(lim.gate)
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = lim }))
	h.Publish(pipetest.Submission("emp-t", pipetest.ValidFields("Mario")), nil)
	select {
	case <-lim.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for emp-t to wait for its token")
	}
	if r := h.Record("emp-t"); r.State != record.StateClaimed || r.Pending == nil || !r.Pending.Unsent {
		t.Fatalf("emp-t waiting for its token: %s, pending %+v; want claimed under an Unsent lease", r.State, r.Pending)
	}
	h.Publish(withdrawal("emp-t"), nil)
	var r *record.Record
	// The worker sees its lease lost at its next renewal (a third of
	// AckWait: 10 s); the next delivery then fails it. Waiting for the
	// lease instead would take 20 s more.
	pipetest.WaitFor(t, 17*time.Second, "emp-t withdrawn", func() bool {
		r = h.Record("emp-t")
		return r.State == record.StateFailed
	})
	if r.Reason != dlq.ReasonWithdrawn || r.Attempts != 0 || r.RequestID != "" || !strings.Contains(r.Errors[0].Message, "before it was sent") {
		t.Errorf("emp-t: reason %q, attempts %d, request %q, errors %+v; want %s, 0, none, before it was sent", r.Reason, r.Attempts, r.RequestID, r.Errors, dlq.ReasonWithdrawn)
	}
	h.WaitLastEvent("emp-t", publisher.StatusType(publisher.StateFailed))
	if ns := h.notices(pipetest.Tenant, "emp-t"); len(ns) != 0 || h.Counter("created") != 0 {
		t.Errorf("notices %+v, upstream requests %d; want none, 0", ns, h.Counter("created"))
	}
}

// TestWithdrawalsRaceTheirSubmissions: a burst waits for the upstream
// budget (5 calls/s, 12 workers) and its producer withdraws every other
// submission right after publishing them. Whatever the timing, each
// withdrawn submission has no request and each one sent has exactly one;
// each withdrawal ends in one of the two (withdrawn, or refused too late
// with its request there); and the withdrawals delivered while their
// submissions waited for a token stopped them.
func TestWithdrawalsRaceTheirSubmissions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = rate.NewLimiter(5, 1) }),
		pipetest.WithConfig(func(c *consumer.Config) { c.Workers, c.WithdrawWait = 12, 5*time.Second }))
	const n = 20
	id := func(i int) string { return fmt.Sprintf("emp-%02d", i) }
	for i := range n {
		h.Publish(pipetest.Submission(id(i), pipetest.ValidFields("Mario")), nil)
	}
	for i := 0; i < n; i += 2 {
		h.Publish(withdrawal(id(i)), nil)
	}
	withdrawn, sent := 0, 0
	for i := range n {
		var r *record.Record
		var ns []publisher.Status
		pipetest.WaitFor(t, 30*time.Second, id(i)+" settled", func() bool {
			r, ns = h.Record(id(i)), h.notices(pipetest.Tenant, id(i))
			switch {
			case r == nil:
				return false
			case r.State == record.StateFailed:
				return true
			case i%2 == 1:
				return r.RequestID != ""
			default:
				return r.RequestID != "" && len(ns) > 0 // its withdrawal refused
			}
		})
		switch {
		case r.State == record.StateFailed:
			withdrawn++
			if i%2 == 1 || r.Reason != dlq.ReasonWithdrawn || r.RequestID != "" || r.Attempts != 0 || len(ns) != 0 {
				t.Errorf("%s: failed %s, request %q, attempts %d, notices %+v; want only the withdrawn ones failed, withdrawn, nothing sent, no notice",
					id(i), r.Reason, r.RequestID, r.Attempts, ns)
			}
		default:
			sent++
			if i%2 == 0 && (len(ns) != 1 || ns[0].Reason != consumer.WithdrawTooLate) {
				t.Errorf("%s: sent (request %s), notices %+v; want its withdrawal refused too late, once", id(i), r.RequestID, ns)
			}
		}
	}
	if withdrawn == 0 {
		t.Error("no withdrawal stopped its submission: every one came too late, the budget was not waited for")
	}
	pipetest.WaitFor(t, 10*time.Second, "every message acknowledged", func() bool { return h.settled() })
	if got := h.Counter("created"); got != sent {
		t.Errorf("upstream requests: %d, want %d: one per submission sent, none for the %d withdrawn", got, sent, withdrawn)
	}
	t.Logf("%d withdrawn, %d sent", withdrawn, sent)
}

// othersSubmissionSent publishes a valid submission of another tenant
// (globex) and returns how long it took to be sent: a test fails if that
// is not within 30 s.
func (h *harness) othersSubmissionSent() time.Duration {
	h.T.Helper()
	published := time.Now()
	h.publishAs("globex", pipetest.Submission("g-sub", pipetest.ValidFields("Anna")), "")
	var took time.Duration
	pipetest.WaitFor(h.T, 30*time.Second, "globex's submission sent", func() bool {
		r, _, err := record.NewStore(h.Res.Records).Get(context.Background(), "globex", "g-sub")
		took = time.Since(published)
		return err == nil && r.RequestID != ""
	})
	return took
}

// TestWithdrawalsOfUnknownIdsAreBounded: a tenant publishes withdrawals of
// ids it never sent, more than the submissions consumer's MaxAckPending
// (64 here). Each that waits for its submission is nakked with a delay,
// and the server counts it pending: unbounded, they stopped the pipeline
// for every tenant until ISEED_WITHDRAW_WAIT, and another tenant's
// submission waited that long. Now only a few wait (two of a tenant, four
// of all, with 64), the others are refused unknown at once, saying so,
// and the other tenant's submission goes at once; its own withdrawal of an
// unknown id, published first, still waits the whole while.
func TestWithdrawalsOfUnknownIdsAreBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const wait = 10 * time.Second
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.WithdrawWait = wait }))
	h.publishAs("globex", withdrawal("g-1"), "")
	const flood, perTenant = 70, 2
	for i := range flood {
		h.Publish(withdrawal(fmt.Sprintf("none-%d", i)), nil)
	}
	if submitted := h.othersSubmissionSent(); submitted > wait/2 {
		t.Errorf("globex's submission was sent %s after it was published, behind acme's waiting withdrawals; want at once", submitted.Round(time.Millisecond))
	}
	atTheBound := func() (n, all int) {
		for i := range flood {
			for _, ns := range h.notices(pipetest.Tenant, fmt.Sprintf("none-%d", i)) {
				all++
				if strings.Contains(ns.Errors[0].Message, "as many withdrawals as may wait") {
					n++
				}
			}
		}
		return n, all
	}
	pipetest.WaitFor(t, 30*time.Second, "every withdrawal of acme answered", func() bool { _, all := atTheBound(); return all == flood })
	if n, _ := atTheBound(); n != flood-perTenant {
		t.Errorf("%d refused at the bound; want %d (%d waited)", n, flood-perTenant, perTenant)
	}
	if n := h.waitNotice("globex", "g-1"); n.Reason != consumer.WithdrawUnknown || strings.Contains(n.Errors[0].Message, "as many withdrawals as may wait") {
		t.Errorf("globex's notice %+v; want unknown after the wait", n)
	}
}
