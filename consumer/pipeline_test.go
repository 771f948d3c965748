package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

func TestValidSubmissionIsSubmittedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	h.Publish(pipetest.Submission("emp-1", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-1", record.StateSubmitted)
	if r.RequestID == "" {
		t.Fatal("submitted record has no upstream request id")
	}
	if got, want := h.Counter("created"), 1; got != want {
		t.Errorf("upstream requests created: got %d, want %d", got, want)
	}
	if got, want := *r.Price, 16.0; got != want { // 12 + urgenza 4
		t.Errorf("price: got %v, want %v", got, want)
	}
	pipetest.WaitFor(t, 5*time.Second, "the submitted event", func() bool { return len(h.Events("emp-1")) == 1 })
	ev := h.Events("emp-1")[0]
	if got, want := ev.Type, "iseed.submission.submitted"; got != want {
		t.Errorf("event type: got %q, want %q", got, want)
	}
	if !strings.Contains(string(ev.Data), `"employee_id":"7781"`) || !strings.Contains(string(ev.Data), r.RequestID) {
		t.Errorf("event data lacks metadata or request id: %s", ev.Data)
	}
}

func TestInvalidSubmissionIsRejectedWithoutUpstreamCalls(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	f := pipetest.ValidFields("Mario")
	f["Codice Fiscale"] = "RSSMRA85T10A562X" // wrong check character
	f["Email"] = "not an email"
	delete(f, "$1")
	h.Publish(pipetest.Submission("emp-bad", f), nil)
	r := h.WaitState("emp-bad", record.StateRejected)
	codes := map[string]bool{}
	for _, p := range r.Errors {
		codes[p.Code] = true
	}
	for _, want := range []string{"invalid_codice_fiscale", "invalid_email", "missing"} {
		if !codes[want] {
			t.Errorf("problems %+v lack code %q", r.Errors, want)
		}
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
	pipetest.WaitFor(t, 5*time.Second, "the dead letter", func() bool { return len(h.DeadLetters()) == 1 })
	if got, want := h.DeadLetters()[0].Reason, dlq.ReasonInvalid; got != want {
		t.Errorf("dead letter reason: got %q, want %q", got, want)
	}
	if got, want := h.DeadLetters()[0].Error, "invalid submission: 3 problem(s): invalid_codice_fiscale, invalid_email, missing"; got != want {
		t.Errorf("dead letter error: got %q, want %q (the codes, no values)", got, want)
	}
	h.WaitLastEvent("emp-bad", "iseed.submission.rejected") // stored after the dead letter waited for (consumer/handle.go, finish)
	if got, want := h.EventTypes("emp-bad"), []string{"iseed.submission.rejected"}; !slices.Equal(got, want) {
		t.Errorf("events: got %v, want %v", got, want)
	}
}

func TestMalformedEventsAreDeadLettered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	h.Publish([]byte(`{"id":"x1","service":"ISEE","fields":{},"unexpected":true}`), nil)
	h.Publish([]byte(`not json at all`), nil)
	// A byte that is not UTF-8 in an otherwise valid submission: the decoder
	// would send U+FFFD in its place, and charge for it.
	invalid := bytes.Replace(pipetest.Submission("x3", pipetest.ValidFields("Mario")), []byte("Mario"), []byte("Ma\xffrio"), 1)
	h.Publish(invalid, nil)
	pipetest.WaitFor(t, 10*time.Second, "three dead letters", func() bool { return len(h.DeadLetters()) == 3 })
	for _, dl := range h.DeadLetters() {
		if dl.Reason != dlq.ReasonMalformed || dl.OriginalSubject != "iseed.submissions.acme" || dl.StreamSeq == 0 {
			t.Errorf("dead letter: got %+v, want reason malformed with origin", dl)
		}
	}
	if got := h.Counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
}

func TestSameEventFiveTimesMakesOneRequest(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	data := pipetest.Submission("emp-dup", pipetest.ValidFields("Mario"))
	for range 5 { // all waiting before the workers start, so they race for them
		h.Publish(data, nil)
	}
	h.Start()
	h.WaitState("emp-dup", record.StateSubmitted)
	pipetest.WaitFor(t, 10*time.Second, "all five messages settled", func() bool { return h.settled() })
	if got, want := h.Counter("created"), 1; got != want {
		t.Errorf("upstream requests: got %d, want %d", got, want)
	}
	if got, want := len(h.Events("emp-dup")), 1; got != want {
		t.Errorf("submitted events: got %d, want %d (deduplicated)", got, want)
	}
}

func TestSameIDDifferentPayloadIsAConflict(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Start()
	h.Publish(pipetest.Submission("emp-c", pipetest.ValidFields("Mario")), nil)
	h.WaitState("emp-c", record.StateSubmitted)
	h.Publish(pipetest.Submission("emp-c", pipetest.ValidFields("Luigi")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the conflict dead letter", func() bool { return len(h.DeadLetters()) == 1 })
	if got, want := h.DeadLetters()[0].Reason, dlq.ReasonConflict; got != want {
		t.Errorf("reason: got %q, want %q", got, want)
	}
	if got := h.DeadLetters()[0].Attempts; got != 0 { // the POSTs were the other payload's
		t.Errorf("the conflicting message's attempts: got %d, want 0: it was never sent", got)
	}
	if got, want := h.Counter("created"), 1; got != want {
		t.Errorf("upstream requests: got %d, want %d", got, want)
	}
	if got := h.Record("emp-c").State; got != record.StateSubmitted {
		t.Errorf("the original record changed to %q", got)
	}
	// The producer hears of it: one conflict event per other payload, with
	// its own id; the submission's own events stay as they were.
	h.Publish(pipetest.Submission("emp-c", pipetest.ValidFields("Luigi")), nil)
	h.Publish(pipetest.Submission("emp-c", pipetest.ValidFields("Anna")), nil)
	pipetest.WaitFor(t, 10*time.Second, "three conflict dead letters", func() bool { return len(h.DeadLetters()) == 3 })
	conflict := publisher.StatusType(publisher.StateConflict)
	pipetest.WaitFor(t, 10*time.Second, "two conflict events", func() bool {
		return slices.Equal(h.EventTypes("emp-c"), []string{publisher.StatusType(publisher.StateSubmitted), conflict, conflict})
	})
	for _, ev := range h.Events("emp-c")[1:] {
		var s publisher.Status
		if err := json.Unmarshal(ev.Data, &s); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ev.ID, ".conflict.") || s.State != publisher.StateConflict || len(s.Errors) != 1 || s.Errors[0].Code != dlq.ReasonConflict {
			t.Errorf("conflict event %s: %+v", ev.ID, s)
		}
	}
}

func TestCommitThenFailIsReconciled(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{sim.ModeBadGateway, sim.ModeHang, sim.ModeFailure} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			h.Sim.SetFaults(sim.Faults{CommitThenFail: sim.CommitThenFail{Mode: mode, Next: 1}})
			h.Start()
			h.Publish(pipetest.Submission("emp-ctf", pipetest.ValidFields("Mario")), nil)
			r := h.WaitState("emp-ctf", record.StateSubmitted)
			if got, want := h.Counter("created"), 1; got != want {
				t.Errorf("upstream requests: got %d, want %d", got, want)
			}
			if got := h.Counter("GET /richiesta"); got < 1 {
				t.Errorf("GET /richiesta calls: got %d, want the reconciliation to list requests", got)
			}
			if r.Timeline[len(r.Timeline)-1].Note != "reconciled" {
				t.Errorf("timeline %+v: want the request adopted by reconciliation", r.Timeline)
			}
		})
	}
}

func TestUpstreamOutageThenRecovery(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 12, Status: 503}}})
	h.Start(pipetest.WithConfig(func(c *consumer.Config) {
		c.Breaker = consumer.BreakerConfig{Failures: 3, Cooldown: 300 * time.Millisecond}
	}))
	for i := range 5 {
		h.Publish(pipetest.Submission(fmt.Sprintf("out-%d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	for i := range 5 {
		h.WaitState(fmt.Sprintf("out-%d", i), record.StateSubmitted)
	}
	if got, want := h.Counter("created"), 5; got != want {
		t.Errorf("upstream requests: got %d, want %d", got, want)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: got %+v, want none", dls)
	}
}

// recorder wraps the upstream and timestamps every POST and its class.
type recorder struct {
	consumer.Upstream
	mu    sync.Mutex
	posts []post
}

type post struct {
	at         time.Time
	retryAfter time.Duration
}

func (r *recorder) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	at := time.Now()
	res, err := r.Upstream.CreateRichiesta(ctx, req)
	var ra time.Duration
	if ve, ok := err.(*visengine.Error); ok {
		ra = ve.RetryAfter
	}
	r.mu.Lock()
	r.posts = append(r.posts, post{at, ra})
	r.mu.Unlock()
	return res, err
}

// TestRetryAfterBeyondReasonIsCapped: a 429 whose Retry-After is years
// away (a gateway's silly value, a misread date) is honoured up to the
// retry policy's MaxDelay, then the POST is tried again. Honoured whole,
// the message was handed back with NakWithDelay for years: nothing
// happened to the submission, no outcome, no event; past the stream's
// retention it was gone, and while it waited it held one of the
// consumer's MaxAckPending slots (64 such messages stall every tenant).
func TestRetryAfterBeyondReasonIsCapped(t *testing.T) {
	t.Parallel()
	const tenYears = 10 * 365 * 24 * 3600
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{Throttle: map[string]sim.ThrottleFault{"POST /richiesta": {Next: 1, RetryAfter: tenYears}}})
	rec := &recorder{Upstream: h.Client}
	h.Start(pipetest.WithUpstream(rec))
	h.Publish(pipetest.Submission("thr-years", pipetest.ValidFields("Mario")), nil)
	h.WaitState("thr-years", record.StateSubmitted)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.posts) != 2 || rec.posts[0].retryAfter != tenYears*time.Second {
		t.Fatalf("POSTs: got %+v, want two: one throttled for ten years, then one accepted", rec.posts)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

func TestThrottlingHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{Throttle: map[string]sim.ThrottleFault{"POST /richiesta": {Next: 2, RetryAfter: 1}}})
	rec := &recorder{Upstream: h.Client}
	h.Start(pipetest.WithUpstream(rec))
	h.Publish(pipetest.Submission("thr", pipetest.ValidFields("Mario")), nil)
	h.WaitState("thr", record.StateSubmitted)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.posts) != 3 {
		t.Fatalf("POSTs: got %d, want 3 (two throttled, one accepted)", len(rec.posts))
	}
	for i := 1; i < len(rec.posts); i++ {
		gap, want := rec.posts[i].at.Sub(rec.posts[i-1].at), rec.posts[i-1].retryAfter
		if want != time.Second {
			t.Errorf("POST %d: Retry-After got %s, want 1s", i, want)
		}
		if gap < want {
			t.Errorf("POST %d came %s after a 429 with Retry-After %s", i+1, gap, want)
		}
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// driftedSchemas serves the ISEE schema with a looser rule than the
// upstream enforces, as a stale cache would after the service changed.
type driftedSchemas struct {
	svc         *schema.Service
	invalidated *atomic.Value // the hash whose schema the pipeline dropped
}

func (d driftedSchemas) Service(context.Context, string) (*schema.Service, error) { return d.svc, nil }

func (d driftedSchemas) Invalidate(_ context.Context, hash string) error {
	d.invalidated.Store(hash)
	return nil
}

func TestPermanentUpstreamErrorIsDeadLettered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	v, err := h.Client.Visura(context.Background(), pipetest.ISEEHash)
	if err != nil {
		t.Fatal(err)
	}
	f := v.JSONStruttura.Campi["$6"]
	f.Null = true
	v.JSONStruttura.Campi["$6"] = f
	v.JSONStruttura.Validazione = "$0 && $1 && $2 && $3 && $4 && $5"
	svc, err := schema.Compile(v)
	if err != nil {
		t.Fatal(err)
	}
	drifted := driftedSchemas{svc: svc, invalidated: &atomic.Value{}}
	h.Start(pipetest.WithSchemas(drifted))
	fields := pipetest.ValidFields("Mario")
	delete(fields, "$6")
	data := pipetest.Submission("emp-412", fields)
	h.Publish(data, nil)
	r := h.WaitState("emp-412", record.StateFailed)
	if got, want := r.Reason, dlq.ReasonUpstreamRejected; got != want {
		t.Errorf("reason: got %q, want %q", got, want)
	}
	pipetest.WaitFor(t, 5*time.Second, "the dead letter", func() bool { return len(h.DeadLetters()) == 1 })
	dl := h.DeadLetters()[0]
	raw, err := h.Res.DLQ.GetMsg(context.Background(), dl.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw.Data) != string(data) {
		t.Errorf("dead letter payload: got %s, want the original", raw.Data)
	}
	if !strings.Contains(dl.Error, "412") || dl.Tenant != pipetest.Tenant || dl.SubmissionID != "emp-412" || dl.Attempts != 1 || dl.FirstFailure.IsZero() {
		t.Errorf("dead letter headers: got %+v", dl)
	}
	if got := h.Counter("created"); got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
	if got, _ := drifted.invalidated.Load().(string); got != pipetest.ISEEHash {
		t.Errorf("invalidated schema: got %q, want %s (the upstream refused what the cached schema accepted)", got, pipetest.ISEEHash)
	}
}

func TestRefusedThenReplayedOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 1, Status: 412}}})
	h.Start()
	h.Publish(pipetest.Submission("emp-402", pipetest.ValidFields("Mario")), nil)
	r := h.WaitState("emp-402", record.StateFailed)
	if got, want := r.Reason, dlq.ReasonUpstreamRejected; got != want {
		t.Fatalf("reason: got %q, want %q", got, want)
	}
	var dls []dlq.DeadLetter
	pipetest.WaitFor(t, 5*time.Second, "the dead letter", func() bool { dls = h.DeadLetters(); return len(dls) == 1 })
	if dls[0].Reason != dlq.ReasonUpstreamRejected {
		t.Fatalf("dead letter reason: got %q", dls[0].Reason)
	}
	dlq := h.Queue()
	if err := dlq.Replay(context.Background(), dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := dlq.Replay(context.Background(), dls[0].Seq); err == nil {
		t.Error("replaying the same dead letter twice: got nil error, want one (it was removed)")
	}
	r = h.WaitState("emp-402", record.StateSubmitted)
	if r.Generation != 2 {
		t.Errorf("generation: got %d, want 2", r.Generation)
	}
	if got, want := h.Counter("created"), 1; got != want {
		t.Errorf("upstream requests: got %d, want %d", got, want)
	}
	// The original event published again (not a replay) changes nothing.
	h.Publish(pipetest.Submission("emp-402", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the duplicate settled", func() bool { return h.settled() })
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests after a duplicate: got %d, want 1", got)
	}
	// The replayed generation's submitted event is the pipeline's: its
	// plain id (docs/events.md), announced again under the same id.
	var ids []string
	for _, ev := range h.Events("emp-402") {
		ids = append(ids, ev.ID)
	}
	want := []string{publisher.StatusEventID(pipetest.Tenant, "emp-402", 1, publisher.StateFailed),
		publisher.StatusEventID(pipetest.Tenant, "emp-402", 2, publisher.StateSubmitted)}
	if !slices.Equal(ids, want) {
		t.Errorf("events: got %v, want %v", ids, want)
	}
}

// TestEmptyWalletWaitsForTopUp: an empty wallet (402) is the account's
// trouble: nothing is dead-lettered, the pipeline stops pulling and says so
// (a wallet_empty event, the gauge), and once the wallet is topped up every
// submission is sent, once, by itself.
func TestEmptyWalletWaitsForTopUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetWallet(5) // less than an ISEE
	reg := prometheus.NewRegistry()
	h.Start(pipetest.WithMetrics(consumer.NewMetrics(reg)), pipetest.WithConfig(func(c *consumer.Config) {
		c.Workers = 2
		c.WalletProbe = 300 * time.Millisecond
	}))
	const n = 10
	for i := range n {
		h.Publish(pipetest.Submission(fmt.Sprintf("w-%d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	pipetest.WaitFor(t, 10*time.Second, "the wallet found empty", func() bool { return metric(t, reg, "iseed_wallet_empty") == 1 })
	pipetest.WaitFor(t, 10*time.Second, "the wallet_empty event", func() bool { return len(h.accountEvents()) > 0 })
	posts := h.Counter("POST /richiesta")
	h.Sim.SetWallet(1000)
	for i := range n {
		h.WaitState(fmt.Sprintf("w-%d", i), record.StateSubmitted)
	}
	if got := h.Counter("created"); got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: got %d, want none", len(dls))
	}
	if posts > 4 {
		t.Errorf("POSTs while the wallet was empty: %d, want the first few only (it stopped pulling)", posts)
	}
	pipetest.WaitFor(t, 5*time.Second, "the gauge back to 0", func() bool { return metric(t, reg, "iseed_wallet_empty") == 0 })
	types := h.accountEvents()
	if len(types) < 2 || types[0] != publisher.AccountWalletEmpty || types[len(types)-1] != publisher.AccountWalletRefilled {
		t.Errorf("account events: got %v, want wallet_empty then wallet_refilled", types)
	}
}

// accountEvents returns the types of the account events stored.
func (h *harness) accountEvents() []string {
	st, err := h.NATS.JS.Stream(context.Background(), h.Res.Layout.EventsStream())
	if err != nil {
		h.T.Fatal(err)
	}
	var out []string
	for seq := uint64(1); ; seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			return out
		}
		if m.Subject == h.Res.Layout.Events().Account() {
			var ev publisher.Event
			_ = json.Unmarshal(m.Data, &ev)
			out = append(out, ev.Type)
		}
	}
}

func TestTwoDaemonsThousandSubmissions(t *testing.T) {
	// Not in parallel: heavy enough to starve the others (and be starved) on two cores.
	if testing.Short() {
		t.Skip("long")
	}
	h := newHarness(t)
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 8 }))
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.Workers = 8 }))
	const n = 1000
	ctx := context.Background()
	for i := range n {
		m := nats.NewMsg(h.Res.Layout.SubmissionSubject(pipetest.Tenant))
		m.Data = pipetest.Submission(fmt.Sprintf("bulk-%d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i)))
		if _, err := h.NATS.JS.PublishMsgAsync(m); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 { // and some duplicates on top
			m2 := nats.NewMsg(m.Subject)
			m2.Data = m.Data
			if _, err := h.NATS.JS.PublishMsgAsync(m2); err != nil {
				t.Fatal(err)
			}
		}
	}
	<-h.NATS.JS.PublishAsyncComplete()
	pipetest.WaitFor(t, 2*time.Minute, "1,000 upstream requests", func() bool { return h.Counter("created") >= n && h.settled() })
	if got := h.Counter("created"); got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
	list, err := h.Client.Richieste(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Errorf("GET /richiesta: got %d requests, want %d", len(list), n)
	}
	seen := map[string]bool{}
	for i := range n {
		r := h.Record(fmt.Sprintf("bulk-%d", i))
		if r == nil || r.State != record.StateSubmitted || seen[r.RequestID] {
			t.Fatalf("bulk-%d: record %+v (duplicate request id or not submitted)", i, r)
		}
		seen[r.RequestID] = true
	}
}

// settled reports whether every message published so far was acknowledged
// or terminated: the consumer's ack floor has reached the stream's last
// message. (Counting pending messages is not enough: right after a publish
// the consumer may not count the new message yet, and 0 reads as done.)
func (h *harness) settled() bool {
	ctx := context.Background()
	si, err := h.Res.Submissions.Info(ctx)
	if err != nil {
		return false
	}
	ci, err := h.Res.Consumer.Info(ctx)
	if err != nil {
		return false
	}
	return ci.AckFloor.Stream >= si.State.LastSeq && ci.NumAckPending == 0 && ci.NumPending == 0
}

// flakyLimiter fails its first Wait after arm is set, as the
// deployment-wide limiter does when its KV read fails.
type flakyLimiter struct{ arm, failed atomic.Bool }

func (l *flakyLimiter) Wait(ctx context.Context) error {
	if l.arm.Load() && l.failed.CompareAndSwap(false, true) {
		return errors.New("ratelimit: the token bucket cannot be read")
	}
	return ctx.Err()
}

// TestWalletTrialThatNeverPostedEnds: the trial POST an empty wallet lets
// through may stop before it is sent (the shared limiter's KV fails). The
// trial must end there: left under way, no later POST was ever admitted
// and the replica stopped submitting until it was restarted, wallet
// topped up or not.
func TestWalletTrialThatNeverPostedEnds(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetWallet(5) // less than an ISEE
	lim := &flakyLimiter{}
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = lim }), pipetest.WithConfig(func(c *consumer.Config) {
		c.Workers = 1
		c.WalletProbe = 200 * time.Millisecond
	}))
	h.Publish(pipetest.Submission("trial-0", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the wallet found empty", func() bool { return len(h.accountEvents()) > 0 })
	lim.arm.Store(true) // the next trial fails before its POST
	pipetest.WaitFor(t, 10*time.Second, "a trial stopped by the limiter", func() bool { return lim.failed.Load() })
	h.Sim.SetWallet(1000)
	h.WaitState("trial-0", record.StateSubmitted)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// slowLimiter makes its first Wait last d, as the deployment-wide budget
// does when many workers and replicas queue for its tokens.
type slowLimiter struct {
	d     time.Duration
	first atomic.Bool
}

func (l *slowLimiter) Wait(ctx context.Context) error {
	if l.first.CompareAndSwap(false, true) {
		select {
		case <-time.After(l.d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return ctx.Err()
}

// TestLongWaitForTheUpstreamBudget: a worker that waits longer than its
// lease for a token of the upstream budget still sends its POST, once,
// with the whole call timeout. The wait came after the lease was taken, so
// the POST's deadline (the lease's end) had passed before it was sent: the
// call failed at once, the submission was taken as possibly sent, and it
// waited ISEED_RECONCILE_SETTLE (15 minutes by default) to be reconciled.
func TestLongWaitForTheUpstreamBudget(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	lim := &slowLimiter{d: h.Res.Layout.AckWait + time.Second}
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = lim }), pipetest.WithConfig(func(c *consumer.Config) {
		c.Workers = 2
		c.ReconcileSettle = time.Hour // a POST taken as possibly sent would not go again within the test
	}))
	h.Publish(pipetest.Submission("slow-token", pipetest.ValidFields("Mario")), nil)
	h.WaitState("slow-token", record.StateSubmitted)
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
}

// countingWallet says the wallet has credit, and counts the reads.
type countingWallet struct{ reads atomic.Int64 }

func (w *countingWallet) Enough(context.Context) (bool, error) { w.reads.Add(1); return true, nil }

// TestWalletWithTooLittleCreditTriesOnce: a wallet whose balance shows some
// credit but less than a request costs lets one trial POST through per
// balance read, not the whole backlog, and nobody is told it was refilled.
func TestWalletWithTooLittleCreditTriesOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetWallet(5) // less than an ISEE: every POST is a 402
	checker := &countingWallet{}
	const workers = 4
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Wallet = checker }), pipetest.WithConfig(func(c *consumer.Config) {
		c.Workers = workers
		c.WalletProbe = 200 * time.Millisecond
	}))
	for i := range 4 {
		h.Publish(pipetest.Submission(fmt.Sprintf("low-%d", i), pipetest.ValidFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	pipetest.WaitFor(t, 10*time.Second, "the wallet found empty", func() bool { return len(h.accountEvents()) > 0 })
	posts, reads := h.Counter("POST /richiesta"), checker.reads.Load()
	pipetest.WaitFor(t, 10*time.Second, "five more balance reads", func() bool { return checker.reads.Load() >= reads+5 })
	more, probes := h.Counter("POST /richiesta")-posts, checker.reads.Load()-reads
	// One trial per read, one more for the read under way, and the POSTs
	// the other workers had sent before the first 402 closed the gate,
	// which may reach the simulator after the count above (seen under load).
	if more > int(probes)+1+(workers-1) {
		t.Errorf("%d POSTs over %d balance reads that showed too little credit: want one trial each at most", more, probes)
	}
	if types := h.accountEvents(); slices.Contains(types, publisher.AccountWalletRefilled) {
		t.Errorf("account events %v: the wallet was never refilled", types)
	}
}
