package consumer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// timedUpstream notes when each POST goes.
type timedUpstream struct {
	*visengine.Client
	mu    sync.Mutex
	posts []time.Time
}

func (u *timedUpstream) CreateRichiesta(ctx context.Context, req visengine.CreateRequest) (*visengine.Richiesta, error) {
	u.mu.Lock()
	u.posts = append(u.posts, time.Now())
	u.mu.Unlock()
	return u.Client.CreateRichiesta(ctx, req)
}

func (u *timedUpstream) first() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.posts) == 0 {
		return time.Time{}
	}
	return u.posts[0]
}

// TestHeldRecordsLeaseIsRespected: a held submission sent again by
// RunHolds is taken over by the delivery that gets it, and stays held
// while that delivery waits for its token and POSTs under its lease. A
// later delivery of it (the message redelivered after a crash or an
// unanswered POST, or sent again by RunHolds, which does so while the
// record stays held) took it over whatever the lease said: it POSTed
// while the holder's POST was in flight, and after a POST in doubt
// without reconciling, paying twice; a POST in doubt past the maximum age
// or under a changed schema was forgotten (expired, rejected: "nothing
// was sent"); and an Unsent lease's count stayed on an expired record.
func TestHeldRecordsLeaseIsRespected(t *testing.T) {
	valid := pipetest.ValidFields("Mario")
	invalid := pipetest.ValidFields("Mario")
	invalid["Codice Fiscale"] = "not a tax code"
	tests := []struct {
		name   string
		fields map[string]any
		old    bool // the record was created past the maximum age
		lease  func(now time.Time) *record.Attempt
		// want
		state, reason string
		requestOfPOST bool // the request is the one the earlier POST created
		created       int  // upstream requests in all, the earlier POST's included
		pending       bool
		attempts      int
	}{
		{name: "a POST in doubt is reconciled", fields: valid,
			lease: func(now time.Time) *record.Attempt {
				return &record.Attempt{Started: now.Add(-time.Minute), Owner: "killed/1", Until: now, Marked: true}
			},
			state: record.StateSubmitted, requestOfPOST: true, created: 1, attempts: 1},
		{name: "a POST in doubt past the maximum age is ambiguous", fields: valid, old: true,
			lease: func(now time.Time) *record.Attempt {
				return &record.Attempt{Started: now.Add(-time.Minute), Owner: "killed/1", Until: now, Marked: true}
			},
			state: record.StateFailed, reason: "ambiguous", created: 1, pending: true, attempts: 1},
		{name: "a POST in doubt under a changed schema is ambiguous", fields: invalid,
			lease: func(now time.Time) *record.Attempt {
				return &record.Attempt{Started: now.Add(-time.Minute), Owner: "killed/1", Until: now, Marked: true}
			},
			state: record.StateFailed, reason: "ambiguous", created: 1, pending: true, attempts: 1},
		{name: "an ended Unsent lease past the maximum age counts nothing", fields: valid, old: true,
			lease: func(now time.Time) *record.Attempt {
				return &record.Attempt{Started: now.Add(-time.Minute), Owner: "killed/1", Until: now.Add(-time.Second), Unsent: true}
			},
			state: record.StateFailed, reason: "expired", created: 0, attempts: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			id := "emp-held"
			var earlier *visengine.Richiesta
			if !tc.lease(time.Now()).Unsent {
				// What the earlier delivery's POST created, its answer lost.
				req := iseeRequest(t, h, valid)
				req.CallbackData = h.Marker(pipetest.Tenant, id)
				r, err := h.Client.CreateRichiesta(context.Background(), req)
				if err != nil {
					t.Fatal(err)
				}
				earlier = r
			}
			now := time.Now()
			created := now.Add(-10 * time.Minute)
			if tc.old {
				created = now.Add(-2 * time.Hour)
			}
			h.PutRecord(id, tc.fields, func(r *record.Record) {
				r.State, r.Reason, r.HeldSince = record.StateHeld, "budget", created
				r.Created, r.Updated = created, created
				r.Pending = tc.lease(now)
			})
			h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.MaxAge = time.Hour; c.ReconcileSettle = time.Hour }))
			h.Publish(pipetest.Submission(id, tc.fields), nil)
			var r *record.Record
			pipetest.WaitFor(t, 20*time.Second, "the held submission ended", func() bool {
				r = h.Record(id)
				return r.State != record.StateHeld
			})
			if r.State != tc.state || r.Reason != tc.reason {
				t.Errorf("record: state %s, reason %q; want %s, %q", r.State, r.Reason, tc.state, tc.reason)
			}
			if tc.requestOfPOST && (earlier == nil || r.RequestID != earlier.ID) {
				t.Errorf("request %q; want %q, the one the earlier POST created", r.RequestID, earlier.ID)
			}
			if got := h.Counter("created"); got != tc.created {
				t.Errorf("upstream requests: got %d, want %d", got, tc.created)
			}
			if (r.Pending != nil) != tc.pending || r.Attempts != tc.attempts {
				t.Errorf("pending %+v, attempts %d; want pending %v, attempts %d", r.Pending, r.Attempts, tc.pending, tc.attempts)
			}
		})
	}
}

// TestHeldRecordsLiveLeaseIsBusy: a held submission whose lease is held by
// a live delivery (waiting for its token, or in its POST) is busy for
// another delivery until that lease ends, as a claimed one is. The other
// took it over at once and POSTed while the holder could still POST.
func TestHeldRecordsLiveLeaseIsBusy(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id := "emp-held-busy"
	fields := pipetest.ValidFields("Mario")
	now := time.Now()
	until := now.Add(4 * time.Second)
	h.PutRecord(id, fields, func(r *record.Record) {
		r.State, r.Reason, r.HeldSince = record.StateHeld, "budget", now.Add(-time.Minute)
		r.Created, r.Updated = now.Add(-time.Minute), now.Add(-time.Minute)
		r.Pending = &record.Attempt{Started: now, Owner: "live/1", Until: until, Marked: true}
	})
	up := &timedUpstream{Client: h.Client}
	h.Start(pipetest.WithUpstream(up))
	h.Publish(pipetest.Submission(id, fields), nil)
	r := h.WaitState(id, record.StateSubmitted)
	if first := up.first(); first.Before(until) {
		t.Errorf("first POST %s before the live lease's end; want none before %s",
			first.Format(time.StampMilli), until.Format(time.StampMilli))
	}
	// Two attempts: the holder's POST (in doubt, reconciled: nothing was
	// created), then this delivery's.
	if got := h.Counter("created"); got != 1 || r.Attempts != 2 {
		t.Errorf("upstream requests %d, attempts %d; want 1 and 2", got, r.Attempts)
	}
}
