package consumer_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
)

func TestValidSubmissionIsSubmittedOnce(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.publish(submission("emp-1", validFields("Mario")), nil)
	r := h.waitState("emp-1", consumer.StateSubmitted)
	if r.RequestID == "" {
		t.Fatal("submitted record has no upstream request id")
	}
	if got, want := h.counter("created"), 1; got != want {
		t.Errorf("upstream requests created: got %d, want %d", got, want)
	}
	if got, want := *r.Price, 16.0; got != want { // 12 + urgenza 4
		t.Errorf("price: got %v, want %v", got, want)
	}
	waitFor(t, 5*time.Second, "the submitted event", func() bool { return len(h.events("emp-1")) == 1 })
	ev := h.events("emp-1")[0]
	if got, want := ev.Type, "iseed.submission.submitted"; got != want {
		t.Errorf("event type: got %q, want %q", got, want)
	}
	if !strings.Contains(string(ev.Data), `"employee_id":"7781"`) || !strings.Contains(string(ev.Data), r.RequestID) {
		t.Errorf("event data lacks metadata or request id: %s", ev.Data)
	}
}

func TestInvalidSubmissionIsRejectedWithoutUpstreamCalls(t *testing.T) {
	h := newHarness(t)
	h.start()
	f := validFields("Mario")
	f["Codice Fiscale"] = "RSSMRA85T10A562X" // wrong check character
	f["Email"] = "not an email"
	delete(f, "$1")
	h.publish(submission("emp-bad", f), nil)
	r := h.waitState("emp-bad", consumer.StateRejected)
	codes := map[string]bool{}
	for _, p := range r.Errors {
		codes[p.Code] = true
	}
	for _, want := range []string{"invalid_codice_fiscale", "invalid_email", "missing"} {
		if !codes[want] {
			t.Errorf("problems %+v lack code %q", r.Errors, want)
		}
	}
	if got := h.counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
	waitFor(t, 5*time.Second, "the dead letter", func() bool { return len(h.deadLetters()) == 1 })
	if got, want := h.deadLetters()[0].Reason, consumer.ReasonInvalid; got != want {
		t.Errorf("dead letter reason: got %q, want %q", got, want)
	}
	if got, want := h.eventTypes("emp-bad"), []string{"iseed.submission.rejected"}; !slices.Equal(got, want) {
		t.Errorf("events: got %v, want %v", got, want)
	}
}

func TestMalformedEventsAreDeadLettered(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.publish([]byte(`{"id":"x1","service":"ISEE","fields":{},"unexpected":true}`), nil)
	h.publish([]byte(`not json at all`), nil)
	waitFor(t, 10*time.Second, "two dead letters", func() bool { return len(h.deadLetters()) == 2 })
	for _, dl := range h.deadLetters() {
		if dl.Reason != consumer.ReasonMalformed || dl.OriginalSubject != "iseed.submissions.acme" || dl.StreamSeq == 0 {
			t.Errorf("dead letter: got %+v, want reason malformed with origin", dl)
		}
	}
	if got := h.counter("POST /richiesta"); got != 0 {
		t.Errorf("POST /richiesta calls: got %d, want 0", got)
	}
}

func TestSameEventFiveTimesMakesOneRequest(t *testing.T) {
	h := newHarness(t)
	data := submission("emp-dup", validFields("Mario"))
	for range 5 { // all waiting before the workers start, so they race for them
		h.publish(data, nil)
	}
	h.start()
	h.waitState("emp-dup", consumer.StateSubmitted)
	waitFor(t, 10*time.Second, "all five messages settled", func() bool { return h.pending() == 0 })
	if got, want := h.counter("created"), 1; got != want {
		t.Errorf("upstream requests: got %d, want %d", got, want)
	}
	if got, want := len(h.events("emp-dup")), 1; got != want {
		t.Errorf("submitted events: got %d, want %d (deduplicated)", got, want)
	}
}

func TestSameIDDifferentPayloadIsAConflict(t *testing.T) {
	h := newHarness(t)
	h.start()
	h.publish(submission("emp-c", validFields("Mario")), nil)
	h.waitState("emp-c", consumer.StateSubmitted)
	h.publish(submission("emp-c", validFields("Luigi")), nil)
	waitFor(t, 10*time.Second, "the conflict dead letter", func() bool { return len(h.deadLetters()) == 1 })
	if got, want := h.deadLetters()[0].Reason, consumer.ReasonConflict; got != want {
		t.Errorf("reason: got %q, want %q", got, want)
	}
	if got, want := h.counter("created"), 1; got != want {
		t.Errorf("upstream requests: got %d, want %d", got, want)
	}
	if got := h.record("emp-c").State; got != consumer.StateSubmitted {
		t.Errorf("the original record changed to %q", got)
	}
}

func TestCommitThenFailIsReconciled(t *testing.T) {
	for _, mode := range []string{sim.ModeBadGateway, sim.ModeHang} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			h.sim.SetFaults(sim.Faults{CommitThenFail: sim.CommitThenFail{Mode: mode, Next: 1}})
			h.start()
			h.publish(submission("emp-ctf", validFields("Mario")), nil)
			r := h.waitState("emp-ctf", consumer.StateSubmitted)
			if got, want := h.counter("created"), 1; got != want {
				t.Errorf("upstream requests: got %d, want %d", got, want)
			}
			if got := h.counter("GET /richiesta"); got < 1 {
				t.Errorf("GET /richiesta calls: got %d, want the reconciliation to list requests", got)
			}
			if r.Timeline[len(r.Timeline)-1].Note != "reconciled" {
				t.Errorf("timeline %+v: want the request adopted by reconciliation", r.Timeline)
			}
		})
	}
}

func TestUpstreamOutageThenRecovery(t *testing.T) {
	h := newHarness(t)
	h.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 12, Status: 503}}})
	h.start(withConfig(func(c *consumer.Config) {
		c.Breaker = consumer.BreakerConfig{Failures: 3, Cooldown: 300 * time.Millisecond}
	}))
	for i := range 5 {
		h.publish(submission(fmt.Sprintf("out-%d", i), validFields(fmt.Sprintf("Mario %d", i))), nil)
	}
	for i := range 5 {
		h.waitState(fmt.Sprintf("out-%d", i), consumer.StateSubmitted)
	}
	if got, want := h.counter("created"), 5; got != want {
		t.Errorf("upstream requests: got %d, want %d", got, want)
	}
	if dls := h.deadLetters(); len(dls) != 0 {
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

func TestThrottlingHonoursRetryAfter(t *testing.T) {
	h := newHarness(t)
	h.sim.SetFaults(sim.Faults{Throttle: map[string]sim.ThrottleFault{"POST /richiesta": {Next: 2, RetryAfter: 1}}})
	rec := &recorder{Upstream: h.client}
	h.start(withUpstream(rec))
	h.publish(submission("thr", validFields("Mario")), nil)
	h.waitState("thr", consumer.StateSubmitted)
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
	if got := h.counter("created"); got != 1 {
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
	h := newHarness(t)
	v, err := h.client.Visura(context.Background(), iseeHash)
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
	h.start(withSchemas(drifted))
	fields := validFields("Mario")
	delete(fields, "$6")
	data := submission("emp-412", fields)
	h.publish(data, nil)
	r := h.waitState("emp-412", consumer.StateFailed)
	if got, want := r.Reason, consumer.ReasonUpstreamRejected; got != want {
		t.Errorf("reason: got %q, want %q", got, want)
	}
	waitFor(t, 5*time.Second, "the dead letter", func() bool { return len(h.deadLetters()) == 1 })
	dl := h.deadLetters()[0]
	raw, err := h.res.DLQ.GetMsg(context.Background(), dl.Seq)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw.Data) != string(data) {
		t.Errorf("dead letter payload: got %s, want the original", raw.Data)
	}
	if !strings.Contains(dl.Error, "412") || dl.Tenant != tenant || dl.SubmissionID != "emp-412" || dl.Attempts != 1 || dl.FirstFailure.IsZero() {
		t.Errorf("dead letter headers: got %+v", dl)
	}
	if got := h.counter("created"); got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
	if got, _ := drifted.invalidated.Load().(string); got != iseeHash {
		t.Errorf("invalidated schema: got %q, want %s (the upstream refused what the cached schema accepted)", got, iseeHash)
	}
}

func TestInsufficientCreditThenReplay(t *testing.T) {
	h := newHarness(t)
	h.sim.SetWallet(5)
	h.start()
	h.publish(submission("emp-402", validFields("Mario")), nil)
	r := h.waitState("emp-402", consumer.StateFailed)
	if got, want := r.Reason, consumer.ReasonInsufficientCredit; got != want {
		t.Fatalf("reason: got %q, want %q", got, want)
	}
	var dls []consumer.DeadLetter
	waitFor(t, 5*time.Second, "the dead letter", func() bool { dls = h.deadLetters(); return len(dls) == 1 })
	if dls[0].Reason != consumer.ReasonInsufficientCredit {
		t.Fatalf("dead letter reason: got %q", dls[0].Reason)
	}
	h.sim.SetWallet(100)
	dlq := consumer.NewDLQ(h.nats.JS, h.res)
	if err := dlq.Replay(context.Background(), dls[0].Seq); err != nil {
		t.Fatal(err)
	}
	if err := dlq.Replay(context.Background(), dls[0].Seq); err == nil {
		t.Error("replaying the same dead letter twice: got nil error, want one (it was removed)")
	}
	r = h.waitState("emp-402", consumer.StateSubmitted)
	if r.Generation != 2 {
		t.Errorf("generation: got %d, want 2", r.Generation)
	}
	if got, want := h.counter("created"), 1; got != want {
		t.Errorf("upstream requests: got %d, want %d", got, want)
	}
	// The original event published again (not a replay) changes nothing.
	h.publish(submission("emp-402", validFields("Mario")), nil)
	waitFor(t, 10*time.Second, "the duplicate settled", func() bool { return h.pending() == 0 })
	if got := h.counter("created"); got != 1 {
		t.Errorf("upstream requests after a duplicate: got %d, want 1", got)
	}
}

func TestTwoDaemonsThousandSubmissions(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	h := newHarness(t)
	h.start(withConfig(func(c *consumer.Config) { c.Workers = 8 }))
	h.start(withConfig(func(c *consumer.Config) { c.Workers = 8 }))
	const n = 1000
	ctx := context.Background()
	for i := range n {
		m := nats.NewMsg(h.res.Layout.SubmissionSubject(tenant))
		m.Data = submission(fmt.Sprintf("bulk-%d", i), validFields(fmt.Sprintf("Mario %d", i)))
		if _, err := h.nats.JS.PublishMsgAsync(m); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 { // and some duplicates on top
			m2 := nats.NewMsg(m.Subject)
			m2.Data = m.Data
			if _, err := h.nats.JS.PublishMsgAsync(m2); err != nil {
				t.Fatal(err)
			}
		}
	}
	<-h.nats.JS.PublishAsyncComplete()
	waitFor(t, 2*time.Minute, "1,000 upstream requests", func() bool { return h.counter("created") >= n && h.pending() == 0 })
	if got := h.counter("created"); got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
	list, err := h.client.Richieste(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Errorf("GET /richiesta: got %d requests, want %d", len(list), n)
	}
	seen := map[string]bool{}
	for i := range n {
		r := h.record(fmt.Sprintf("bulk-%d", i))
		if r == nil || r.State != consumer.StateSubmitted || seen[r.RequestID] {
			t.Fatalf("bulk-%d: record %+v (duplicate request id or not submitted)", i, r)
		}
		seen[r.RequestID] = true
	}
}

// pending is the number of messages not yet acknowledged or terminated.
func (h *harness) pending() int {
	info, err := h.res.Consumer.Info(context.Background())
	if err != nil {
		return -1
	}
	return int(info.NumPending) + info.NumAckPending + info.NumRedelivered
}
