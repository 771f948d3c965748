package overview

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// now is the tests' fixed "now".
var testNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// synthetic is a record for the tests: a state, an age, a document.
type synthetic struct {
	tenant, id string
	state      string
	request    bool          // has an upstream request
	age        time.Duration // since submitted
	doc        string        // document's upstream state; "-" none
	overdue    bool          // the tracker noted overdue
}

func (s synthetic) record() *record.Record {
	at := testNow.Add(-s.age)
	r := &record.Record{Tenant: s.tenant, ID: s.id, Generation: 1, Created: at.Add(-time.Minute)}
	r.To(record.StateClaimed, at.Add(-time.Minute), "")
	if s.request {
		r.RequestID = "req-" + s.id
		r.To(record.StateSubmitted, at, "")
	}
	if s.state != r.State {
		r.To(s.state, at.Add(time.Minute), "")
	}
	if s.overdue {
		r.Note(record.StateOverdue, at.Add(time.Hour), "")
	}
	if s.doc != "-" {
		r.Document = &record.DocumentRef{Bucket: "b", Object: "o", Stato: s.doc}
	}
	if code, ok := heldCodes[s.id]; ok {
		r.Errors = []publisher.Problem{{Code: code, Message: "held: " + code}}
	}
	return r
}

// heldCodes are the codes of the fixture's held records.
var heldCodes = map[string]string{"held-1": "tenant_day_eur", "held-2": publisher.HeldFairShare}

// fixture is one of each kind of record: open in every state, unsent,
// closed.
func fixture() []synthetic {
	const day = 24 * time.Hour
	return []synthetic{
		{"acme", "sub-1", record.StateSubmitted, true, 2 * day, "-", false},
		{"acme", "prog-1", record.StateInProgress, true, 20 * day, "-", false}, // the oldest, overdue by age
		{"acme", "prog-2", record.StateInProgress, true, 3 * day, "-", true},   // overdue by the tracker's note
		{"globex", "ready-1", record.StateDataReady, true, 5 * day, visengine.StateDataReady, false},
		{"globex", "done-nodoc", record.StateCompleted, true, 6 * day, "-", false},
		{"globex", "done-dsu", record.StateCompleted, true, 7 * day, visengine.StateDataReady, false},
		{"globex", "done-final", record.StateCompleted, true, 8 * day, visengine.StateFulfilled, false},
		{"globex", "done-legacy", record.StateCompleted, true, 9 * day, "", false},
		{"acme", "claimed-1", record.StateClaimed, false, time.Hour, "-", false},
		{"acme", "held-1", "held", false, 30 * day, "-", false},
		{"initech", "held-2", "held", false, day, "-", false},
		{"initech", "weird-1", "queued_for_review", false, day, "-", false},
		{"acme", "rej-1", record.StateRejected, false, day, "-", false},
		{"acme", "fail-1", record.StateFailed, false, day, "-", false},
		{"acme", "fail-2", record.StateFailed, true, day, "-", false},
		{"globex", "canc-1", record.StateCancelled, true, day, "-", false},
	}
}

func TestClassify(t *testing.T) {
	tests := map[string]struct {
		kind  kind
		state string
	}{
		"sub-1": {kindOpen, "submitted"}, "prog-1": {kindOpen, "in_progress"}, "ready-1": {kindOpen, "data_ready"},
		"done-nodoc": {kindOpen, StateAwaitingDocument}, "done-dsu": {kindOpen, StateAwaitingDocument},
		"done-final": {kindClosed, ""}, "done-legacy": {kindClosed, ""},
		"claimed-1": {kindUnsent, "claimed"}, "held-1": {kindUnsent, "held"}, "weird-1": {kindUnsent, "queued_for_review"},
		"rej-1": {kindClosed, ""}, "fail-1": {kindClosed, ""}, "fail-2": {kindClosed, ""}, "canc-1": {kindClosed, ""},
	}
	for _, s := range fixture() {
		want, ok := tests[s.id]
		if !ok {
			continue
		}
		t.Run(s.id, func(t *testing.T) {
			b := mustJSON(t, s.record())
			v, err := decodeView(b)
			if err != nil {
				t.Fatal(err)
			}
			if k, state := v.classify(); k != want.kind || state != want.state {
				t.Errorf("got %d %q, want %d %q", k, state, want.kind, want.state)
			}
		})
	}
}

// TestClassifyFulfilledAwaitingDocument: tracking holds completed back
// until the final document is stored, so a request the upstream fulfilled
// whose final document failed to download is still data_ready; it counts
// as awaiting its document all the same.
func TestClassifyFulfilledAwaitingDocument(t *testing.T) {
	tests := []struct {
		name, doc string
		want      string
	}{
		{"no document", "-", StateAwaitingDocument},
		{"the DSU receipt", visengine.StateDataReady, StateAwaitingDocument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := synthetic{"acme", "held-back", record.StateDataReady, true, time.Hour, tt.doc, false}.record()
			r.StatoRichiesta = visengine.StateFulfilled
			v, err := decodeView(mustJSON(t, r))
			if err != nil {
				t.Fatal(err)
			}
			if k, state := v.classify(); k != kindOpen || state != tt.want {
				t.Errorf("got %d %q, want %d %q", k, state, kindOpen, tt.want)
			}
		})
	}
}

// startWatcher puts records into a fresh layout's records bucket and runs
// a Watcher of it until the test ends.
func startWatcher(t *testing.T, recs []synthetic) (*Watcher, *layout.Resources) {
	t.Helper()
	_, res, w := watchedFixture(t, recs, bucket.Recheck)
	return w, res
}

// watchedFixture puts records into a fresh layout's records bucket on a
// server of its own, and runs a Watcher of it, checking the bucket every
// recheck, until the test ends.
func watchedFixture(t *testing.T, recs []synthetic, recheck time.Duration) (*natstest.Server, *layout.Resources, *Watcher) {
	t.Helper()
	srv := natstest.Run(t)
	res, err := layout.Ensure(context.Background(), srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, res, recs)
	return srv, res, runWatcher(t, res, recheck)
}

// runWatcher runs a Watcher of res's records bucket, checking it every
// recheck, until the test ends, and waits for its first pass.
func runWatcher(t *testing.T, res *layout.Resources, recheck time.Duration) *Watcher {
	t.Helper()
	w := NewWatcher(res.Records, 15*24*time.Hour, zerolog.New(zerolog.NewTestWriter(t)))
	w.recheck = recheck
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitReady(t, w.Ready())
	return w
}

func putAll(t *testing.T, res *layout.Resources, recs []synthetic) {
	t.Helper()
	st := record.NewStore(res.Records)
	for _, s := range recs {
		if _, err := st.Create(context.Background(), s.record()); err != nil {
			t.Fatal(err)
		}
	}
}

func waitReady(t *testing.T, ready <-chan struct{}) {
	t.Helper()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for the first pass")
	}
}

func TestWatcherCounts(t *testing.T) {
	w, _ := startWatcher(t, fixture())
	c, ok := w.Counts(testNow)
	if !ok {
		t.Fatal("not ready after Ready")
	}
	wantOpen := map[string]int{"submitted": 1, "in_progress": 2, "data_ready": 1, StateAwaitingDocument: 2}
	if !maps.Equal(c.Open, wantOpen) {
		t.Errorf("open: got %v, want %v", c.Open, wantOpen)
	}
	wantUnsent := map[string]int{"claimed": 1, "held": 2, "queued_for_review": 1}
	if !maps.Equal(c.Unsent, wantUnsent) {
		t.Errorf("unsent: got %v, want %v", c.Unsent, wantUnsent)
	}
	if c.OpenTotal != 6 || c.Held != 2 || c.Overdue != 2 {
		t.Errorf("total, held, overdue: got %d, %d, %d; want 6, 2, 2", c.OpenTotal, c.Held, c.Overdue)
	}
	if want := map[string]int{"tenant_day_eur": 1, "fair_share": 1}; !maps.Equal(c.HeldBy, want) {
		t.Errorf("held by code: got %v, want %v", c.HeldBy, want)
	}
	wantOldest := Request{Tenant: "acme", ID: "prog-1", State: "in_progress", SubmittedAt: testNow.Add(-20 * 24 * time.Hour)}
	if c.Oldest == nil || *c.Oldest != wantOldest {
		t.Errorf("oldest: got %+v, want %+v", c.Oldest, wantOldest)
	}
	wantTenants := []TenantCounts{{"acme", 3, 2, 2}, {"globex", 3, 0, 0}, {"initech", 0, 0, 2}}
	if len(c.Tenants) != len(wantTenants) {
		t.Fatalf("tenants: got %+v, want %+v", c.Tenants, wantTenants)
	}
	for i := range wantTenants {
		if c.Tenants[i] != wantTenants[i] {
			t.Errorf("tenant %d: got %+v, want %+v", i, c.Tenants[i], wantTenants[i])
		}
	}
}

// TestWatcherAgreesWithTracking holds the watcher's notion of open to
// tracking's own (tracking.ListOpen).
func TestWatcherAgreesWithTracking(t *testing.T) {
	w, res := startWatcher(t, fixture())
	open, err := tracking.ListOpen(context.Background(), res, tracking.OpenFilter{Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"submitted": 0, "in_progress": 0, "data_ready": 0, StateAwaitingDocument: 0}
	for _, r := range open {
		want[OpenState(r)]++
	}
	c, _ := w.Counts(testNow)
	if !maps.Equal(c.Open, want) {
		t.Errorf("open by state: got %v, tracking.ListOpen says %v", c.Open, want)
	}
	if c.Oldest == nil || len(open) == 0 || c.Oldest.ID != open[0].ID {
		t.Errorf("oldest: got %+v, tracking.ListOpen's first is %s", c.Oldest, open[0].ID)
	}
}

// TestWatcherFollowsChanges changes, deletes and adds records after the
// first pass and waits for the counts to follow.
func TestWatcherFollowsChanges(t *testing.T) {
	w, res := startWatcher(t, fixture())
	ctx := context.Background()
	st := record.NewStore(res.Records)
	r, rev, err := st.Get(ctx, "acme", "prog-1")
	if err != nil {
		t.Fatal(err)
	}
	r.To(record.StateCompleted, testNow, "")
	r.Document = &record.DocumentRef{Stato: visengine.StateFulfilled}
	if _, err := st.Update(ctx, r, rev); err != nil {
		t.Fatal(err)
	}
	if err := res.Records.Delete(ctx, record.Key("initech", "held-2")); err != nil {
		t.Fatal(err)
	}
	// held-1 is held again, behind its tenant's older holds now: counted
	// under its new code only.
	h, rev, err := st.Get(ctx, "acme", "held-1")
	if err != nil {
		t.Fatal(err)
	}
	h.Errors = []publisher.Problem{{Code: publisher.HeldQueued, Message: "queued"}}
	if _, err := st.Update(ctx, h, rev); err != nil {
		t.Fatal(err)
	}
	putAll(t, res, []synthetic{{"umbrella", "new-1", record.StateSubmitted, true, time.Hour, "-", false},
		{"umbrella", "held-3", "held", false, time.Hour, "-", false}}) // no code: unknown

	want := map[string]int{"submitted": 2, "in_progress": 1, "data_ready": 1, StateAwaitingDocument: 2}
	wantHeld := map[string]int{publisher.HeldQueued: 1, "unknown": 1}
	waitFor(t, "the counts to follow the changes", func() bool {
		c, _ := w.Counts(testNow)
		return maps.Equal(c.Open, want) && c.Held == 2 && maps.Equal(c.HeldBy, wantHeld) && c.Oldest != nil && c.Oldest.ID == "done-dsu"
	})
	c, _ := w.Counts(testNow)
	if c.Overdue != 1 {
		t.Errorf("overdue: got %d, want 1 (prog-2's note; prog-1 is closed)", c.Overdue)
	}
}

func TestWatcherList(t *testing.T) {
	w, _ := startWatcher(t, fixture())
	tests := []struct {
		name  string
		q     Query
		ids   []string
		total int
	}{
		{"all, oldest first", Query{Limit: 3}, []string{"held-1", "prog-1", "done-dsu"}, 10},
		{"second page", Query{Offset: 3, Limit: 3}, []string{"done-nodoc", "ready-1", "prog-2"}, 10},
		{"past the end", Query{Offset: 50}, nil, 10},
		{"by state", Query{State: "held"}, []string{"held-1", "held-2"}, 2},
		{"every one, from an offset", Query{State: "held", Offset: 1, Limit: NoLimit}, []string{"held-2"}, 2},
		{"by tenant", Query{Tenant: "globex"}, []string{"done-dsu", "done-nodoc", "ready-1"}, 3},
		{"awaiting document", Query{State: StateAwaitingDocument}, []string{"done-dsu", "done-nodoc"}, 2},
		{"nothing", Query{State: "completed"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := w.List(tt.q)
			var ids []string
			for _, r := range p.Requests {
				ids = append(ids, r.ID)
				if r.HeldCode != heldCodes[r.ID] {
					t.Errorf("%s: held code %q, want %q", r.ID, r.HeldCode, heldCodes[r.ID])
				}
			}
			if p.Total != tt.total || !equal(ids, tt.ids) {
				t.Errorf("got %v (total %d), want %v (total %d)", ids, p.Total, tt.ids, tt.total)
			}
		})
	}
}

// TestOpenStateIsTheWatchers: OpenState, which `iseed track list` names and
// filters by, puts each record under the open state the watcher counts and
// lists it under, a fulfilled request held back at data_ready included,
// and names no state for a record that is not an open request.
func TestOpenStateIsTheWatchers(t *testing.T) {
	heldBack := synthetic{"acme", "held-back", record.StateDataReady, true, 4 * 24 * time.Hour, "-", false}.record()
	heldBack.StatoRichiesta = visengine.StateFulfilled
	w, res := startWatcher(t, fixture())
	if _, err := record.NewStore(res.Records).Create(context.Background(), heldBack); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the held-back request counted", func() bool {
		c, _ := w.Counts(testNow)
		return c.Open[StateAwaitingDocument] == 3
	})
	byState := make(map[string][]string)
	err := record.NewStore(res.Records).Each(context.Background(), func(r *record.Record) error {
		byState[OpenState(r)] = append(byState[OpenState(r)], r.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, state := range openStates {
		var listed []string
		for _, r := range w.List(Query{State: state, Limit: 100}).Requests {
			listed = append(listed, r.ID)
		}
		slices.Sort(listed)
		if got := slices.Sorted(slices.Values(byState[state])); !equal(got, listed) {
			t.Errorf("%s: OpenState gives %v, the watcher lists %v", state, got, listed)
		}
		delete(byState, state)
	}
	delete(byState, "")
	if len(byState) != 0 {
		t.Errorf("OpenState names states the watcher does not count as open: %v", byState)
	}
}

// TestWatcherFollowsANewBucket: a records bucket deleted and made anew
// while the watch runs numbers its entries from 1 again. The counts become
// the new bucket's: the old records are gone, and the new ones count even
// where their revisions are ones the old bucket had.
func TestWatcherFollowsANewBucket(t *testing.T) {
	srv, res, w := watchedFixture(t, fixture(), 100*time.Millisecond)
	ctx := context.Background()

	if err := srv.JS.DeleteKeyValue(ctx, res.Records.Bucket()); err != nil {
		t.Fatal(err)
	}
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, res, []synthetic{{"umbrella", "new-1", record.StateSubmitted, true, time.Hour, "-", false}})

	want := map[string]int{"submitted": 1, "in_progress": 0, "data_ready": 0, StateAwaitingDocument: 0}
	var c Counts
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, _ = w.Counts(testNow)
		if maps.Equal(c.Open, want) && len(c.Unsent) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counts after the bucket was made anew: got open %v, unsent %v; want open %v, nothing unsent", c.Open, c.Unsent, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatcherNoticesItsConsumerLost: the watch's consumer lost with the
// connection up (the cluster node that held it failed) delivers nothing
// until nats.go, missing the server's heartbeats, makes it again 10 to 20 s
// later. The watcher's check sees a record stored and undelivered and
// watches anew: the counts follow within the check, bucket.KeepUp and the
// second Run waits before it watches again.
func TestWatcherNoticesItsConsumerLost(t *testing.T) {
	srv, res, w := watchedFixture(t, fixture(), 200*time.Millisecond)

	srv.LoseConsumer(t, "KV_"+res.Records.Bucket())
	putAll(t, res, []synthetic{{"umbrella", "new-1", record.StateSubmitted, true, time.Hour, "-", false}})
	stored := time.Now()
	for {
		c, _ := w.Counts(testNow)
		if c.Open["submitted"] == 2 {
			t.Logf("the record stored after the consumer was lost is counted %s later", time.Since(stored).Round(time.Millisecond))
			return
		}
		if time.Since(stored) > 8*time.Second {
			t.Fatalf("8s after a record was stored, the watch, its consumer lost, still counts %v submitted; want it watched anew within the check and a few seconds", c.Open["submitted"])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatcherStopsWithItsContext: the watcher returns when its context
// ends, also when the watch's updates channel stays open (nats.go closes
// it when the ended context has unsubscribed the watch, but a serve's stop
// must not wait on that: once it waited 40 s, and was abandoned). The
// bucket's checks, which read nothing once the context is done, do not
// keep it going either.
func TestWatcherStopsWithItsContext(t *testing.T) {
	srv := natstest.Run(t)
	res, err := layout.Ensure(context.Background(), srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	putAll(t, res, fixture())
	w := NewWatcher(neverClosed{res.Records}, 15*24*time.Hour, zerolog.New(zerolog.NewTestWriter(t)))
	w.recheck = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	waitReady(t, w.Ready())
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the watcher still runs 5 s after its context ended, its watch's updates channel open")
	}
}

// neverClosed is a records bucket whose watches are not ended by their
// context and never close their updates channel.
type neverClosed struct{ jetstream.KeyValue }

func (kv neverClosed) WatchAll(_ context.Context, opts ...jetstream.WatchOpt) (jetstream.KeyWatcher, error) {
	kw, err := kv.KeyValue.WatchAll(context.Background(), opts...)
	if err != nil {
		return nil, err
	}
	open := &openWatch{KeyWatcher: kw, updates: make(chan jetstream.KeyValueEntry, 256)}
	go func() {
		for e := range kw.Updates() {
			open.updates <- e
		}
	}()
	return open, nil
}

type openWatch struct {
	jetstream.KeyWatcher
	updates chan jetstream.KeyValueEntry
}

func (w *openWatch) Updates() <-chan jetstream.KeyValueEntry { return w.updates }
