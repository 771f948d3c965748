package consumer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// lostReply is the records bucket with the answer of one write lost: the
// nth write of key that the server stores returns context.DeadlineExceeded,
// as nats.go's KV Create and Update do when the stream's PubAck does not
// come back (the leader changed after the write committed, a partition).
type lostReply struct {
	jetstream.KeyValue
	key string
	nth int
	mu  sync.Mutex
	n   int // writes of key stored so far
}

func (l *lostReply) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	rev, err := l.KeyValue.Create(ctx, key, value, opts...)
	return l.answer(key, rev, err)
}

func (l *lostReply) Update(ctx context.Context, key string, value []byte, last uint64) (uint64, error) {
	rev, err := l.KeyValue.Update(ctx, key, value, last)
	return l.answer(key, rev, err)
}

func (l *lostReply) answer(key string, rev uint64, err error) (uint64, error) {
	if err != nil || key != l.key {
		return rev, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n++; l.n == l.nth {
		return 0, context.DeadlineExceeded
	}
	return rev, nil
}

// writes is how many writes of key were stored.
func (l *lostReply) writes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// requestOutsideIseed makes the request a submission of fields would make,
// without iseed's marker and unindexed, as someone using the Openapi
// console for the same person would.
func requestOutsideIseed(t *testing.T, h *harness, fields map[string]any) *visengine.Richiesta {
	t.Helper()
	r, err := h.Client.CreateRichiesta(context.Background(), iseeRequest(t, h, fields))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// iseeRequest is the POST /richiesta body of an ISEE request (with
// urgency) for fields, as the pipeline would build it.
func iseeRequest(t *testing.T, h *harness, fields map[string]any) visengine.CreateRequest {
	t.Helper()
	svc, err := h.Schemas().Service(context.Background(), "ISEE")
	if err != nil {
		t.Fatal(err)
	}
	prep, err := svc.Validate(schema.Input{Fields: fields, Options: []string{"urgenza"}}, schema.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return visengine.CreateRequest{HashVisura: prep.HashVisura, JSONVisura: prep.JSONVisura, Opzioni: prep.Opzioni}
}

// TestStoredLeaseWithoutItsAnswerIsHeld: a write that puts this delivery's
// lease on the record (the claim, the lease renewed before the POST, a
// take-over, a replay's reopening) is stored, and its answer is lost. The
// delivery reads the record back from the stream's leader, finds its own
// write and sends at once. It must not take its own lease for another
// worker's, wait for it to end and reconcile a POST never sent: that costs
// AckWait plus ISEED_RECONCILE_SETTLE (15 minutes by default), and with a
// request of the same person made outside iseed meanwhile, dead-letters
// the submission ambiguous (a replay of it, again) without a POST.
func TestStoredLeaseWithoutItsAnswerIsHeld(t *testing.T) {
	t.Parallel()
	fields := pipetest.ValidFields("Mario")
	tests := []struct {
		name    string
		prepare func(h *harness) // an earlier delivery's record, if any
		nth     int              // the write of the record whose answer is lost
		replay  bool             // the message is an operator's replay of a dead letter (generation 2)
	}{
		{"the claim", func(*harness) {}, 1, false},
		{"the lease renewed before the POST", func(*harness) {}, 2, false},
		{"a take-over", func(h *harness) {
			h.PutRecord("emp-lost", fields, func(r *record.Record) { // handed back with nothing in doubt
				r.Created, r.Updated, r.Attempts = time.Now(), time.Now(), 0
			})
		}, 1, false},
		{"a replay's reopening", func(h *harness) {
			h.PutRecord("emp-lost", fields, func(r *record.Record) {
				r.Created, r.Updated, r.Attempts = time.Now(), time.Now(), 0
				r.To(record.StateFailed, time.Now(), dlq.ReasonExpired)
				r.Reason = dlq.ReasonExpired
			})
			dl := dlq.DeadLetter{OriginalSubject: h.Res.Layout.SubmissionSubject(pipetest.Tenant), StreamSeq: 1,
				Tenant: pipetest.Tenant, SubmissionID: "emp-lost", Reason: dlq.ReasonExpired, Generation: 1}
			if err := dlq.Publish(context.Background(), h.NATS.JS, h.Res.Layout, dl, pipetest.Submission("emp-lost", fields),
				dlq.MsgID(pipetest.Tenant, "emp-lost", 1, dlq.ReasonExpired)); err != nil {
				t.Fatal(err)
			}
		}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			tt.prepare(h)
			outside := requestOutsideIseed(t, h, fields)
			posts := h.Counter("POST /richiesta")
			kv := &lostReply{KeyValue: h.Res.Records, key: record.Key(pipetest.Tenant, "emp-lost"), nth: tt.nth}
			h.Res.Records = kv
			h.Start()
			if tt.replay {
				if err := h.Queue().Replay(context.Background(), h.DeadLetters()[0].Seq); err != nil {
					t.Fatal(err)
				}
			} else {
				h.Publish(pipetest.Submission("emp-lost", fields), nil)
			}
			gen := 1
			if tt.replay {
				gen = 2
			}
			var r *record.Record
			pipetest.WaitFor(t, 20*time.Second, "submitted or failed", func() bool {
				r = h.Record("emp-lost")
				return r != nil && r.Generation == gen && (r.State == record.StateSubmitted || r.State == record.StateFailed)
			})
			if got := kv.writes(); got < tt.nth {
				t.Fatalf("writes of the record: got %d, want at least %d (the one whose answer is lost)", got, tt.nth)
			}
			if r.State != record.StateSubmitted || r.RequestID == outside.ID {
				t.Errorf("record %s/%s, request %q: want submitted with a request of its own", r.State, r.Reason, r.RequestID)
			}
			if got := h.Counter("POST /richiesta") - posts; got != 1 || r.Attempts != 1 {
				t.Errorf("POSTs: got %d, counted %d; want 1, counted once", got, r.Attempts)
			}
			if got := h.Counter("GET /richiesta"); got != 0 {
				t.Errorf("upstream listings: got %d, want 0: nothing was ever in doubt", got)
			}
		})
	}
}
