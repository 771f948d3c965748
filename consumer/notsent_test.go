package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/ratelimit"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// timingOutLimiter fails its first Wait as the deployment-wide limiter
// does when a KV operation on its bucket times out: ErrUnavailable,
// wrapping the KV call's context.DeadlineExceeded.
type timingOutLimiter struct{ failed atomic.Bool }

func (l *timingOutLimiter) Wait(ctx context.Context) error {
	if l.failed.CompareAndSwap(false, true) {
		return fmt.Errorf("ratelimit: %w: read upstream: %w", ratelimit.ErrUnavailable, context.DeadlineExceeded)
	}
	return ctx.Err()
}

// TestLimiterTimeoutIsNotAnUnansweredPost: the shared limiter's KV times
// out before the POST is sent. Nothing went upstream, so the submission
// must be sent without reconciling. Taken for an unanswered POST, it waited
// ISEED_RECONCILE_SETTLE (15 minutes by default) and, with a request of the
// same person made outside iseed meanwhile, was dead-lettered ambiguous
// without ever being sent.
func TestLimiterTimeoutIsNotAnUnansweredPost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fields := pipetest.ValidFields("Mario")
	requestOutsideIseed(t, h, fields)
	lim := &timingOutLimiter{}
	h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = lim }))
	h.Publish(pipetest.Submission("emp-lim", fields), nil)
	var r *record.Record
	pipetest.WaitFor(t, 20*time.Second, "the submission settled", func() bool {
		r = h.Record("emp-lim")
		return r != nil && (r.State == record.StateSubmitted || r.State == record.StateFailed)
	})
	if !lim.failed.Load() {
		t.Fatal("the limiter never failed")
	}
	if r.State != record.StateSubmitted || r.Attempts != 1 {
		t.Errorf("record: state %s (reason %q), attempts %d; want submitted after 1 attempt: nothing was sent before", r.State, r.Reason, r.Attempts)
	}
	if got := h.Counter("GET /richiesta"); got != 0 {
		t.Errorf("reconciliation reads: got %d, want 0: no POST was ever unanswered", got)
	}
}

// blockingLimiter holds every Wait until its context ends.
type blockingLimiter struct{ waiting atomic.Int32 }

func (l *blockingLimiter) Wait(ctx context.Context) error {
	l.waiting.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// TestShutdownWhileWaitingForATokenSendsNothing: a daemon stopped while a
// submission waits for an upstream token (its in-flight work cancelled past
// the shutdown timeout) sent nothing. The record must say so: no pending
// attempt, no attempt counted. Left as an unanswered POST, the next daemon
// waited for it to settle and, with a request of the same person made
// outside iseed meanwhile, dead-lettered it ambiguous without a POST.
func TestShutdownWhileWaitingForATokenSendsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fields := pipetest.ValidFields("Mario")
	lim := &blockingLimiter{}
	stop := h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Limiter = lim }),
		pipetest.WithConfig(func(c *consumer.Config) { c.ShutdownTimeout = 100 * time.Millisecond }))
	h.Publish(pipetest.Submission("emp-stop", fields), nil)
	pipetest.WaitFor(t, 10*time.Second, "the POST waiting for a token", func() bool { return lim.waiting.Load() > 0 })
	stop()
	r := h.Record("emp-stop")
	if r == nil {
		t.Fatal("no record after the stop")
	}
	if r.Pending != nil || r.Attempts != 0 {
		t.Fatalf("record after the stop: pending %+v, attempts %d; want no pending attempt and none counted: nothing was sent", r.Pending, r.Attempts)
	}
	requestOutsideIseed(t, h, fields)
	h.Start()
	var got *record.Record
	pipetest.WaitFor(t, 20*time.Second, "the submission settled", func() bool {
		got = h.Record("emp-stop")
		return got.State == record.StateSubmitted || got.State == record.StateFailed
	})
	if got.State != record.StateSubmitted || got.Attempts != 1 {
		t.Errorf("after a restart: state %s (reason %q), attempts %d; want submitted after 1 attempt", got.State, got.Reason, got.Attempts)
	}
}

// failingReserve fails its first Reserve, as the caps' KV does when a
// stream leader fails over.
type failingReserve struct {
	*budget.Budgets
	failed *atomic.Bool
}

func (f failingReserve) Reserve(ctx context.Context, tenant, id string, amount money.Cents, now time.Time) (budget.Reservation, error) {
	if f.failed.CompareAndSwap(false, true) {
		return budget.Reservation{}, errors.New("budget: usage: nats: timeout")
	}
	return f.Budgets.Reserve(ctx, tenant, id, amount, now)
}

// failingFiles fails its first Open, as the object store does when its
// stream leader fails over.
type failingFiles struct {
	schema.FileSource
	failed *atomic.Bool
}

func (f failingFiles) Open(ctx context.Context, bucket, name string) (io.ReadCloser, schema.FileInfo, error) {
	if f.failed.CompareAndSwap(false, true) {
		return nil, schema.FileInfo{}, errors.New("object store: nats: timeout")
	}
	return f.FileSource.Open(ctx, bucket, name)
}

// TestTroubleBeforeThePostIsNotAnUnansweredPost: a delivery that meets
// transient trouble after its claim and before its POST (the caps cannot
// be counted, a referenced file cannot be read) sent nothing. The next
// delivery must send at once. Left with the claim's lease, it waited for
// that lease to end, took it for a POST whose answer was lost and
// reconciled: ISEED_RECONCILE_SETTLE (15 minutes by default) later it
// sent, or, with a request of the same person made outside iseed
// meanwhile, it was dead-lettered ambiguous without a POST.
func TestTroubleBeforeThePostIsNotAnUnansweredPost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, h *harness, failed *atomic.Bool, fields map[string]any) pipetest.Option
	}{
		{"the caps cannot be counted", func(t *testing.T, h *harness, failed *atomic.Bool, _ map[string]any) pipetest.Option {
			b := h.budgets()
			if err := b.Set(context.Background(), budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 100}); err != nil {
				t.Fatal(err)
			}
			return h.withMoney(failingReserve{Budgets: b, failed: failed})
		}},
		{"a referenced file cannot be read", func(t *testing.T, h *harness, failed *atomic.Bool, fields map[string]any) pipetest.Option {
			ctx := context.Background()
			obs, err := h.NATS.JS.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "iseed_files_acme"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := obs.PutBytes(ctx, "7781/carta.pdf", []byte("%PDF-1.4 carta")); err != nil {
				t.Fatal(err)
			}
			fields["Copia documento d'identità"] = "carta.pdf|nats-os://iseed_files_acme/7781/carta.pdf"
			return pipetest.WithDeps(func(d *consumer.Deps) { d.Files = failingFiles{FileSource: d.Files, failed: failed} })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			requestOutsideIseed(t, h, pipetest.ValidFields("Mario"))
			fields := pipetest.ValidFields("Mario")
			failed := &atomic.Bool{}
			h.Start(tt.setup(t, h, failed, fields))
			h.Publish(pipetest.Submission("emp-pre", fields), nil)
			var r *record.Record
			pipetest.WaitFor(t, 20*time.Second, "the submission settled", func() bool {
				r = h.Record("emp-pre")
				return r != nil && (r.State == record.StateSubmitted || r.State == record.StateFailed)
			})
			if !failed.Load() {
				t.Fatal("the fault never fired")
			}
			if r.State != record.StateSubmitted || r.Attempts != 1 {
				t.Errorf("record: state %s (reason %q), attempts %d; want submitted after 1 attempt: nothing was sent before", r.State, r.Reason, r.Attempts)
			}
			if got := h.Counter("GET /richiesta"); got != 0 {
				t.Errorf("reconciliation reads: got %d, want 0: no POST was ever unanswered", got)
			}
		})
	}
}

// scriptedReserve answers Reserve with the errors of script in turn, then
// as its Budgets does.
type scriptedReserve struct {
	*budget.Budgets
	mu     *sync.Mutex
	script *[]error
}

func (s scriptedReserve) Reserve(ctx context.Context, tenant, id string, amount money.Cents, now time.Time) (budget.Reservation, error) {
	s.mu.Lock()
	var err error
	if len(*s.script) > 0 {
		err, *s.script = (*s.script)[0], (*s.script)[1:]
	}
	s.mu.Unlock()
	if err != nil {
		return budget.Reservation{}, err
	}
	return s.Budgets.Reserve(ctx, tenant, id, amount, now)
}

// TestTroubleAfterReconcilingIsNotAnUnansweredPost: a crashed worker's
// attempt is reconciled (nothing exists, and it has settled), and the
// reservation the new POST needs then meets transient trouble. That
// delivery sent nothing: the next one must send without reconciling
// again. Left with this delivery's lease, it waited for the lease to end
// and reconciled a POST never sent.
func TestTroubleAfterReconcilingIsNotAnUnansweredPost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := context.Background()
	b := h.budgets()
	if err := b.Set(ctx, budget.Tenant(pipetest.Tenant), budget.Caps{DailyRequests: 100}); err != nil {
		t.Fatal(err)
	}
	fields := pipetest.ValidFields("Mario")
	past := time.Now().Add(-time.Minute)
	h.PutRecord("emp-rec", fields, func(r *record.Record) { // a worker crashed before its POST
		r.Created, r.Updated = past, past
		r.Pending = &record.Attempt{Started: past, Owner: "crashed/1", Until: past.Add(time.Second), Marked: true}
	})
	script := []error{
		&budget.OverBudgetError{Scope: budget.Tenant(pipetest.Tenant), Period: budget.PeriodDay, Unit: budget.UnitRequests, Limit: 100, Used: 100, Asked: 1},
		errors.New("budget: usage: nats: timeout"),
	}
	h.Start(h.withMoney(scriptedReserve{Budgets: b, mu: &sync.Mutex{}, script: &script}))
	h.Publish(pipetest.Submission("emp-rec", fields), nil)
	r := h.WaitState("emp-rec", record.StateSubmitted)
	if r.Attempts != 2 {
		t.Errorf("attempts: got %d, want 2 (the crashed one, then this)", r.Attempts)
	}
	if got := h.Counter("GET /richiesta"); got != 1 {
		t.Errorf("reconciliation reads: got %d, want 1: the crashed attempt's, and no POST since was unanswered", got)
	}
}

// unreachableOnce is a dialer whose first connection attempt times out, as
// a dial to an upstream that drops packets does (the client's dialer gives
// up after 5s): the request is never written.
type unreachableOnce struct{ failed atomic.Bool }

func (u *unreachableOnce) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if u.failed.CompareAndSwap(false, true) {
		// The error a real dial that times out returns: "i/o timeout".
		return (&net.Dialer{Deadline: time.Now().Add(-time.Second)}).DialContext(ctx, network, addr)
	}
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

// TestPostThatNeverConnectedIsNotUnanswered: a POST whose connection
// timed out was never written (the client says so: retryable, "no
// answer"). The submission must be sent again without reconciling. Taken
// for an unanswered POST because the error matches
// context.DeadlineExceeded, it waited ISEED_RECONCILE_SETTLE (15 minutes
// by default) and, with a request of the same person made outside iseed
// meanwhile, was dead-lettered ambiguous without ever being sent.
func TestPostThatNeverConnectedIsNotUnanswered(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fields := pipetest.ValidFields("Mario")
	requestOutsideIseed(t, h, fields)
	dialer := &unreachableOnce{}
	u, _ := url.Parse(h.SimURL)
	client, err := visengine.New(visengine.Config{BaseURL: u, Token: pipetest.SimToken, Timeout: 2 * time.Second,
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}})
	if err != nil {
		t.Fatal(err)
	}
	h.Start(pipetest.WithUpstream(client))
	h.Publish(pipetest.Submission("emp-dial", fields), nil)
	var r *record.Record
	pipetest.WaitFor(t, 20*time.Second, "the submission settled", func() bool {
		r = h.Record("emp-dial")
		return r != nil && (r.State == record.StateSubmitted || r.State == record.StateFailed)
	})
	if !dialer.failed.Load() {
		t.Fatal("the dial never timed out")
	}
	if r.State != record.StateSubmitted {
		t.Errorf("record: state %s (reason %q); want submitted: the POST that never connected sent nothing", r.State, r.Reason)
	}
	if got := h.Counter("GET /richiesta"); got != 0 {
		t.Errorf("reconciliation reads: got %d, want 0: no POST was ever unanswered", got)
	}
}

// refusedUpdate is the records bucket refusing, unwritten, the first
// Update of key: a write that times out before the stream stores it.
type refusedUpdate struct {
	jetstream.KeyValue
	key     string
	refused atomic.Bool
}

func (r *refusedUpdate) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	if key == r.key && r.refused.CompareAndSwap(false, true) {
		return 0, errors.New("nats: timeout")
	}
	return r.KeyValue.Update(ctx, key, value, last)
}

// TestUnwrittenLeaseRenewalIsNotAnUnansweredPost: the write that renews
// the lease before the POST (markAttempt) fails and is not stored, so no
// POST is sent. The delivery must give up the claim's lease: kept, the
// next delivery waited for it to end, took it for a POST whose answer was
// lost and reconciled (ISEED_RECONCILE_SETTLE late, or, with a request of
// the same person made outside iseed meanwhile, dead-lettered ambiguous
// without a POST).
func TestUnwrittenLeaseRenewalIsNotAnUnansweredPost(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	fields := pipetest.ValidFields("Mario")
	requestOutsideIseed(t, h, fields)
	kv := &refusedUpdate{KeyValue: h.Res.Records, key: record.Key(pipetest.Tenant, "emp-mark")}
	h.Res.Records = kv
	h.Start()
	h.Publish(pipetest.Submission("emp-mark", fields), nil)
	var r *record.Record
	pipetest.WaitFor(t, 20*time.Second, "the submission settled", func() bool {
		r = h.Record("emp-mark")
		return r != nil && (r.State == record.StateSubmitted || r.State == record.StateFailed)
	})
	if !kv.refused.Load() {
		t.Fatal("no write was refused")
	}
	if r.State != record.StateSubmitted || r.Attempts != 1 {
		t.Errorf("record: state %s (reason %q), attempts %d; want submitted after 1 attempt: nothing was sent before", r.State, r.Reason, r.Attempts)
	}
	if got := h.Counter("GET /richiesta"); got != 0 {
		t.Errorf("reconciliation reads: got %d, want 0: no POST was ever unanswered", got)
	}
}
