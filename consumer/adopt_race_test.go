package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go/jetstream"
)

// barrierUpstream holds every GET /richiesta/{id} until two are waiting, so
// that two reconciliations look at the same un-indexed candidate together.
type barrierUpstream struct {
	*visengine.Client
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func (b *barrierUpstream) Richiesta(ctx context.Context, id string) (*visengine.Richiesta, error) {
	b.mu.Lock()
	b.waiting++
	if b.waiting == 2 {
		close(b.release)
	}
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-time.After(5 * time.Second):
	}
	return b.Client.Richiesta(ctx, id)
}

// lostPosts stores the records of submissions ids, all with the same input
// and an unanswered POST (marked as the harness marks them when marked is
// set), and creates one upstream request as the first one's POST would
// have, with its marker when marked.
func lostPosts(t *testing.T, h *harness, marked bool, ids ...string) *schema.Cache {
	t.Helper()
	return lostPostsEchoed(t, h, marked, nil, ids...)
}

// lostPostsEchoed is lostPosts with the marker as the upstream echoes it:
// echo changes it before the request is created.
func lostPostsEchoed(t *testing.T, h *harness, marked bool, echo func(*visengine.CallbackData), ids ...string) *schema.Cache {
	t.Helper()
	cache, _ := lostPostsWith(t, h, marked, marked, echo, ids...)
	return cache
}

// lostPostsWith is lostPostsEchoed with the request carrying the first
// one's marker when withMarker, whether the attempts were marked or not;
// it also returns the request.
func lostPostsWith(t *testing.T, h *harness, marked, withMarker bool, echo func(*visengine.CallbackData), ids ...string) (*schema.Cache, *visengine.Richiesta) {
	t.Helper()
	ctx := context.Background()
	cache := h.Schemas()
	svc, err := cache.Service(ctx, "ISEE")
	if err != nil {
		t.Fatal(err)
	}
	fields := pipetest.ValidFields("Mario")
	prep, err := svc.Validate(schema.Input{Fields: fields, Options: []string{"urgenza"}}, schema.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Minute)
	for _, id := range ids {
		h.PutRecord(id, fields, func(r *record.Record) {
			r.Created, r.Updated = past, past
			r.Pending = &record.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second), Marked: marked}
		})
	}
	req := visengine.CreateRequest{HashVisura: prep.HashVisura, JSONVisura: prep.JSONVisura, Opzioni: prep.Opzioni}
	if withMarker {
		req.CallbackData = h.Marker(pipetest.Tenant, ids[0])
		if echo != nil {
			echo(req.CallbackData)
		}
	}
	r, err := h.Client.CreateRichiesta(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return cache, r
}

// TestLostPostsAreToldApartByTheirMarkers: two submissions with the same
// input, both with an unanswered POST, reconcile at once (the barrier holds
// both reads of the one candidate): the request carries the first one's
// marker, so the first adopts it and the second, knowing it is not its own,
// sends its own. Neither guesses.
func TestLostPostsAreToldApartByTheirMarkers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cache := lostPosts(t, h, true, "emp-a", "emp-b")
	h.Start(pipetest.WithSchemas(cache), pipetest.WithUpstream(&barrierUpstream{Client: h.Client, release: make(chan struct{})}))
	fields := pipetest.ValidFields("Mario")
	h.Publish(pipetest.Submission("emp-a", fields), nil)
	h.Publish(pipetest.Submission("emp-b", fields), nil)
	a := h.WaitState("emp-a", record.StateSubmitted)
	b := h.WaitState("emp-b", record.StateSubmitted)
	if a.RequestID == b.RequestID {
		t.Errorf("two submissions adopted the same upstream request %s", a.RequestID)
	}
	if got := h.Counter("created"); got != 2 {
		t.Errorf("upstream requests: got %d, want 2 (emp-a's lost one, emp-b's own)", got)
	}
}

// TestChangedMarkerURLIsNotAnothers: the upstream echoes the marker with
// the submission's own secret under a URL it changed. Only a URL naming
// another submission whole, with another secret, is another submission's:
// a trailing slash is still the marker, anything else proves nothing (the
// submission is dead-lettered ambiguous). Never a second POST.
func TestChangedMarkerURLIsNotAnothers(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		echo func(*visengine.CallbackData)
		want string
	}{
		"trailing slash": {func(c *visengine.CallbackData) { c.URL += "/" }, record.StateSubmitted},
		"data echoed as a string": {func(c *visengine.CallbackData) {
			text, _ := json.Marshal(string(c.Data))
			c.Data = text
		}, record.StateSubmitted},
		"query added":            {func(c *visengine.CallbackData) { c.URL += "?x=1" }, record.StateFailed},
		"another id, our secret": {func(c *visengine.CallbackData) { c.URL = strings.TrimSuffix(c.URL, "emp-a") + "emp-z" }, record.StateFailed},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			cache := lostPostsEchoed(t, h, true, tc.echo, "emp-a")
			h.Start(pipetest.WithSchemas(cache))
			h.Publish(pipetest.Submission("emp-a", pipetest.ValidFields("Mario")), nil)
			r := h.WaitState("emp-a", tc.want)
			if tc.want == record.StateFailed && r.Reason != dlq.ReasonAmbiguous {
				t.Errorf("reason %q, want %q", r.Reason, dlq.ReasonAmbiguous)
			}
			if got := h.Counter("created"); got != 1 {
				t.Errorf("upstream requests: got %d, want 1 (the lost POST's, never a second)", got)
			}
		})
	}
}

// TestUnmarkedCandidateIsAmbiguous: without markers, a request that records
// the same input as two submissions' lost POSTs proves nothing: both are
// dead-lettered as ambiguous for a person, and neither posts again.
func TestUnmarkedCandidateIsAmbiguous(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cache := lostPosts(t, h, false, "emp-a", "emp-b")
	h.Start(pipetest.WithSchemas(cache), pipetest.WithConfig(func(c *consumer.Config) { c.Callback = nil }))
	fields := pipetest.ValidFields("Mario")
	h.Publish(pipetest.Submission("emp-a", fields), nil)
	h.Publish(pipetest.Submission("emp-b", fields), nil)
	for _, id := range []string{"emp-a", "emp-b"} {
		if r := h.WaitState(id, record.StateFailed); r.Reason != dlq.ReasonAmbiguous {
			t.Errorf("%s: reason %q, want %q", id, r.Reason, dlq.ReasonAmbiguous)
		}
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (nothing sent on a guess)", got)
	}
}

// TestReformattedEchoIsNotTakenForAnothers: the upstream stores the input
// reformatted (Faults.ReformatEcho: the phone number without its spaces,
// names upper-cased) and nothing marks the request. Its own lost POST must
// not look like another submission's request because of that: it proves
// nothing either way, so the submission is dead-lettered as ambiguous and
// never posted twice.
func TestReformattedEchoIsNotTakenForAnothers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.Sim.SetFaults(sim.Faults{ReformatEcho: true})
	cache := lostPosts(t, h, false, "emp-a")
	h.Start(pipetest.WithSchemas(cache), pipetest.WithConfig(func(c *consumer.Config) { c.Callback = nil }))
	h.Publish(pipetest.Submission("emp-a", pipetest.ValidFields("Mario")), nil)
	if r := h.WaitState("emp-a", record.StateFailed); r.Reason != dlq.ReasonAmbiguous {
		t.Errorf("reason %q, want %q", r.Reason, dlq.ReasonAmbiguous)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1 (its own request, reformatted, was taken for another's)", got)
	}
}

// TestAnotherPersonsRequestIsNotOurs: on an upstream that echoes the input
// (EchoValues, whatever the profile under test), a request for another tax
// code, in the same window, is told apart by its identifier, even
// reformatted: the lost POST created nothing, so the submission is sent.
// Without an echo the same candidate proves nothing
// (TestUnmarkedCandidateIsAmbiguous).
func TestAnotherPersonsRequestIsNotOurs(t *testing.T) {
	t.Parallel()
	h := &harness{pipetest.NewWithSim(t, sim.Config{Step: time.Hour, Wallet: 1e7, Echo: sim.EchoValues}, 2*time.Second)}
	h.Sim.SetFaults(sim.Faults{ReformatEcho: true})
	cache := lostPosts(t, h, false, "emp-x") // the request is Mario Rossi's
	f := pipetest.ValidFields("Mario")
	f["Codice Fiscale"] = "VRDGPP80A01H501U"
	past := time.Now().Add(-time.Minute)
	h.PutRecord("emp-a", f, func(r *record.Record) {
		r.Created, r.Updated = past, past
		r.Pending = &record.Attempt{Started: past, Owner: "crashed", Until: past.Add(time.Second)}
	})
	h.Start(pipetest.WithSchemas(cache), pipetest.WithConfig(func(c *consumer.Config) { c.Callback = nil }))
	h.Publish(pipetest.Submission("emp-a", f), nil)
	h.WaitState("emp-a", record.StateSubmitted)
	if got := h.Counter("created"); got != 2 {
		t.Errorf("upstream requests: got %d, want 2 (the other person's and this one)", got)
	}
}

// TestLateClaimedCandidateIsAnothers: a submission reconciling after a lost
// POST finds an unmarked request with its input that nobody has indexed
// yet: the submission that created it got the answer but cannot write the
// index (a stream failing over). Within AdoptGrace of the request's
// creation that proves nothing either way, so reconciliation reads again;
// once the creator claims it, it is another's, and the submission sends
// its own. Calling it ambiguous at first sight dead-lettered submissions
// that had sent nothing.
func TestLateClaimedCandidateIsAnothers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cache := lostPosts(t, h, false, "emp-a") // the request is in fact emp-other's
	list, err := h.Client.Richieste(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("upstream requests: %d (%v), want 1", len(list), err)
	}
	other := list[0].ID
	h.Start(pipetest.WithSchemas(cache), pipetest.WithConfig(func(c *consumer.Config) {
		c.Callback = nil
		c.AdoptGrace = time.Minute
	}))
	h.Publish(pipetest.Submission("emp-a", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "emp-a to read the candidate", func() bool { return h.Counter("GET /richiesta/{id}") > 0 })
	if r := h.Record("emp-a"); r.State != record.StateClaimed {
		t.Fatalf("emp-a while the candidate is unclaimed: %s (%s), want still claimed", r.State, r.Reason)
	}
	if _, err := h.Res.Requests.Create(context.Background(), record.IndexKey(other), []byte(record.Key(pipetest.Tenant, "emp-other"))); err != nil {
		t.Fatal(err)
	}
	r := h.WaitState("emp-a", record.StateSubmitted)
	if r.RequestID == other {
		t.Errorf("emp-a adopted emp-other's request %s", other)
	}
	if got := h.Counter("created"); got != 2 {
		t.Errorf("upstream requests: got %d, want 2 (emp-other's, emp-a's own)", got)
	}
}

// slowIndex fails every write to the request index until open.
type slowIndex struct {
	jetstream.KeyValue
	open   atomic.Bool
	failed atomic.Int32
	first  atomic.Int64 // when the first write was refused (UnixNano)
	last   atomic.Int64 // when the last one was
}

func (s *slowIndex) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	if !s.open.Load() {
		s.failed.Add(1)
		now := time.Now().UnixNano()
		s.first.CompareAndSwap(0, now)
		s.last.Store(now)
		return 0, errors.New("nats: no response from stream")
	}
	return s.KeyValue.Create(ctx, key, value, opts...)
}

// startWithSlowIndex starts a pipeline without markers whose request index
// refuses every write until opened.
func startWithSlowIndex(h *harness, grace, shutdown time.Duration) (*slowIndex, func()) {
	idx := &slowIndex{KeyValue: h.Res.Requests}
	res := *h.Res
	res.Requests = idx
	stop := h.Start(pipetest.WithDeps(func(d *consumer.Deps) { d.Resources = &res }), pipetest.WithConfig(func(c *consumer.Config) {
		c.Callback = nil
		c.AdoptGrace = grace
		c.ShutdownTimeout = shutdown
	}))
	return idx, stop
}

// TestAnsweredRequestIsRecordedPastTheLease: the POST is answered but the
// request index cannot be written for longer than the delivery's budget
// and its lease. The worker that holds the answer keeps trying (the
// message kept in progress) and records it: one request, adopted, and no
// ambiguity, even without a marker to reconcile by.
func TestAnsweredRequestIsRecordedPastTheLease(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idx, _ := startWithSlowIndex(h, time.Minute, 0)
	h.Publish(pipetest.Submission("emp-slow", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the POST's answer", func() bool { return h.Counter("created") == 1 })
	pipetest.WaitFor(t, 2*h.Res.Layout.AckWait, "index writes failing past the lease", func() bool {
		r := h.Record("emp-slow")
		return r.Pending != nil && time.Now().After(r.Pending.Until)
	})
	idx.open.Store(true)
	r := h.WaitState("emp-slow", record.StateSubmitted)
	if idx.failed.Load() < 2 {
		t.Errorf("index writes refused: %d, want several", idx.failed.Load())
	}
	if got := h.Counter("POST /richiesta"); got != 1 || r.RequestID == "" {
		t.Errorf("POSTs: got %d, request %q; want 1, adopted", got, r.RequestID)
	}
}

// TestShutdownBoundsTheIndexRetries: a worker retrying the index write
// (AdoptGrace: minutes) stops with the shutdown timeout, as every
// in-flight message does; the message is redelivered.
func TestShutdownBoundsTheIndexRetries(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idx, stop := startWithSlowIndex(h, 10*time.Minute, time.Second)
	h.Publish(pipetest.Submission("emp-stop", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the index write refused", func() bool { return idx.failed.Load() > 0 })
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("the pipeline did not stop within a minute of a 1s shutdown timeout: the index retries ignore it")
	}
}

// TestAnsweredRequestOutlivesTheGrace: the request index cannot be written
// for longer than AdoptGrace. The worker holding the POST's answer gives
// up then, and the id, in its memory only, was lost with it: the next
// delivery met the request unindexed and unmarked, past its grace, and
// dead-lettered the submission as ambiguous (a chaos run ended 11 paid
// submissions so). The id is kept in the record from the first refused
// write: the next delivery adopts it once the index takes it, one POST.
func TestAnsweredRequestOutlivesTheGrace(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	const grace = 2 * time.Second
	idx, _ := startWithSlowIndex(h, grace, 0)
	h.Publish(pipetest.Submission("emp-grace", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the POST's answer", func() bool { return h.Counter("created") == 1 })
	list, err := h.Client.Richieste(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("upstream requests: %d (%v), want 1", len(list), err)
	}
	pipetest.WaitFor(t, 10*time.Second, "the answered id kept in the record", func() bool {
		r := h.Record("emp-grace")
		return r.Pending != nil && r.Pending.Answered == list[0].ID
	})
	// A refused write after the first worker's grace is over: a later
	// delivery is adopting the kept id.
	pipetest.WaitFor(t, 30*time.Second, "a write to the index after the first worker gave up", func() bool {
		return time.Duration(idx.last.Load()-idx.first.Load()) > grace+time.Second
	})
	if r := h.Record("emp-grace"); r.State != record.StateClaimed {
		t.Fatalf("while the index is unwritable: %s (%s), want still claimed", r.State, r.Reason)
	}
	idx.open.Store(true)
	r := h.WaitState("emp-grace", record.StateSubmitted)
	if got := h.Counter("POST /richiesta"); got != 1 || r.RequestID != list[0].ID {
		t.Errorf("POSTs: got %d, request %q; want 1, %s adopted", got, r.RequestID, list[0].ID)
	}
	if r.Pending != nil {
		t.Errorf("pending attempt left on the submitted record: %+v", r.Pending)
	}
	if dls := h.DeadLetters(); len(dls) != 0 {
		t.Errorf("dead letters: %+v, want none", dls)
	}
}

// TestAnsweredRequestOutlivesItsWorker: the worker holding the POST's
// answer stops (a shutdown, as a crash would) while the index refuses it.
// The pipeline started next, with the index back and a short AdoptGrace,
// adopts the id the record kept instead of finding the request ambiguous.
func TestAnsweredRequestOutlivesItsWorker(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	idx, stop := startWithSlowIndex(h, 10*time.Minute, time.Second)
	h.Publish(pipetest.Submission("emp-kept", pipetest.ValidFields("Mario")), nil)
	pipetest.WaitFor(t, 10*time.Second, "the index write refused", func() bool { return idx.failed.Load() > 0 })
	stop()
	h.Start(pipetest.WithConfig(func(c *consumer.Config) { c.Callback = nil; c.AdoptGrace = 100 * time.Millisecond }))
	r := h.WaitState("emp-kept", record.StateSubmitted)
	list, err := h.Client.Richieste(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("upstream requests: %d (%v), want 1", len(list), err)
	}
	if got := h.Counter("POST /richiesta"); got != 1 || r.RequestID != list[0].ID {
		t.Errorf("POSTs: got %d, request %q; want 1, %s adopted", got, r.RequestID, list[0].ID)
	}
	if owner, err := h.Res.Requests.Get(context.Background(), record.IndexKey(r.RequestID)); err != nil || string(owner.Value()) != record.Key(pipetest.Tenant, "emp-kept") {
		t.Errorf("request index entry: %v; want it the submission's", err)
	}
}
