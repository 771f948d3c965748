package retention_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/retention"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

const after = time.Hour

// env is a NATS server with iseed's layout.
type env struct {
	t   *testing.T
	srv *natstest.Server
	js  jetstream.JetStream
	res *layout.Resources
}

func newEnv(t *testing.T) *env {
	srv := natstest.Run(t)
	res, err := layout.Ensure(context.Background(), srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, js: srv.JS, res: res}
}

// newBucket deletes the records bucket and makes it anew, as an operator
// might: its stream starts its sequences over.
func (e *env) newBucket() {
	e.t.Helper()
	ctx := context.Background()
	if err := e.js.DeleteKeyValue(ctx, e.res.Records.Bucket()); err != nil {
		e.t.Fatal(err)
	}
	res, err := layout.Ensure(ctx, e.js, layout.Layout{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.res = res
}

// scrubber returns a Scrubber whose clock reads now.
func (e *env) scrubber(now time.Time, m *retention.Metrics) *retention.Scrubber {
	e.t.Helper()
	s, err := retention.New(retention.Config{After: after, Batch: 4, FetchWait: 200 * time.Millisecond,
		Now: func() time.Time { return now }, Logger: zerolog.New(zerolog.NewTestWriter(e.t))},
		retention.Deps{JS: e.js, Records: e.res.Records, Keys: e.res.Keys, Metrics: m})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// put stores a record of id in state, with the tenant's data.
func (e *env) put(id, state string, mod func(*record.Record)) {
	e.t.Helper()
	now := time.Now()
	r := &record.Record{Tenant: "acme", ID: id, Fingerprint: "fp-" + id, Generation: 1, State: state, RequestID: "req-" + id,
		Metadata: json.RawMessage(`{"employee":"Mario Rossi"}`), PersonKey: "pk-" + id, Created: now, Updated: now,
		Errors:   []publisher.Problem{{Field: "Codice Fiscale", Code: "invalid_tax_code", Message: "not a tax code"}},
		Timeline: []record.Transition{{State: state, At: now}}}
	if state == record.StateCompleted {
		r.Document = &record.DocumentRef{Bucket: "b", Object: "o", SHA256: "s", Stato: visengine.StateFulfilled}
	}
	if mod != nil {
		mod(r)
	}
	if _, err := record.NewStore(e.res.Records).Create(context.Background(), r); err != nil {
		e.t.Fatal(err)
	}
}

// raw returns the stored bytes of a record.
func (e *env) raw(id string) []byte {
	e.t.Helper()
	v, err := e.res.Records.Get(context.Background(), record.Key("acme", id))
	if err != nil {
		e.t.Fatal(err)
	}
	return v.Value()
}

// checkpointAtEnd is the checkpoint a pass leaves past every record, as a
// scrub that removes what removes numbers writes it (0: one from before
// they were numbered, which wrote none).
func (e *env) checkpointAtEnd(removes int) []byte {
	e.t.Helper()
	ctx := context.Background()
	st, err := e.js.Stream(ctx, "KV_"+e.res.Records.Bucket())
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	cp := map[string]any{"next": info.State.LastSeq + 1, "stream": info.Created}
	if removes > 0 {
		cp["removes"] = removes
	}
	b, err := json.Marshal(cp)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *env) get(id string) *record.Record {
	e.t.Helper()
	r, _, err := record.NewStore(e.res.Records).Get(context.Background(), "acme", id)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) scrub(s *retention.Scrubber) retention.Result {
	e.t.Helper()
	res, err := s.Scrub(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// TestScrubsOldClosedRecordsOnly: a pass scrubs every closed record
// written before now minus After, and leaves open records, and closed ones
// written since, byte for byte as they were.
func TestScrubsOldClosedRecordsOnly(t *testing.T) {
	e := newEnv(t)
	closed := []string{record.StateCompleted, record.StateCancelled, record.StateFailed, record.StateRejected}
	open := []string{record.StateClaimed, record.StateHeld, record.StateSubmitted, record.StateInProgress, record.StateDataReady}
	for _, s := range closed {
		e.put("old-"+s, s, nil)
	}
	for _, s := range open {
		e.put("old-"+s, s, nil)
	}
	e.put("old-awaiting", record.StateCompleted, func(r *record.Record) { r.Document.Stato = visengine.StateDataReady })
	cutoff := time.Now() // between two writes: the server stamps each as it stores it
	e.put("new-"+record.StateCompleted, record.StateCompleted, nil)

	untouched := map[string][]byte{"new-" + record.StateCompleted: e.raw("new-" + record.StateCompleted), "old-awaiting": e.raw("old-awaiting")}
	for _, s := range open {
		untouched["old-"+s] = e.raw("old-" + s)
	}
	reg := prometheus.NewRegistry()
	res := e.scrub(e.scrubber(cutoff.Add(after), retention.NewMetrics(reg)))

	if want := (retention.Result{Read: len(closed) + len(open) + 1, Scrubbed: len(closed)}); res != want {
		t.Errorf("pass: got %+v, want %+v", res, want)
	}
	for _, s := range closed {
		r := e.get("old-" + s)
		if r.Scrubbed.IsZero() || len(r.Metadata) != 0 || r.PersonKey != "" || r.Errors[0] != (publisher.Problem{Code: "invalid_tax_code"}) {
			t.Errorf("%s: scrubbed %v, metadata %s, person key %q, errors %v; want scrubbed, none, none, the code only",
				s, r.Scrubbed, r.Metadata, r.PersonKey, r.Errors)
		}
		if r.State != s || r.RequestID != "req-old-"+s || r.Fingerprint != "fp-old-"+s {
			t.Errorf("%s: state %s, request %s, fingerprint %s; want them kept", s, r.State, r.RequestID, r.Fingerprint)
		}
	}
	for id, b := range untouched {
		if got := e.raw(id); !bytes.Equal(got, b) {
			t.Errorf("%s: got %s, want it untouched: %s", id, got, b)
		}
	}
	if got := scrubbedTotal(t, reg); got != float64(len(closed)) {
		t.Errorf("iseed_records_scrubbed_total: got %v, want %d", got, len(closed))
	}
}

// scrubbedTotal reads iseed_records_scrubbed_total from reg.
func scrubbedTotal(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "iseed_records_scrubbed_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("iseed_records_scrubbed_total is not registered")
	return 0
}

// TestScrubReadsOnlyWhatBecameOld: the checkpoint, kept in the keys
// bucket, makes a pass read only what was written since the last pass's
// cutoff, whichever Scrubber makes it (a restart), and records scrubbed
// before come back past it without being written again.
func TestScrubReadsOnlyWhatBecameOld(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.put(fmt.Sprintf("a-%d", i), record.StateCompleted, nil)
	}
	t1 := time.Now()
	if res := e.scrub(e.scrubber(t1.Add(after), nil)); res.Read != 5 || res.Scrubbed != 5 {
		t.Fatalf("first pass: got %+v, want 5 read, 5 scrubbed", res)
	}
	if res := e.scrub(e.scrubber(t1.Add(after), nil)); res.Read != 0 {
		t.Errorf("second pass, same cutoff, another Scrubber: got %+v, want nothing read", res)
	}
	for i := range 3 {
		e.put(fmt.Sprintf("b-%d", i), record.StateRejected, nil)
	}
	scrubbedA := e.raw("a-0")
	t2 := time.Now()
	// The five scrubbed records were written again after t1: read again,
	// with nothing to scrub; the three new ones are scrubbed.
	if res := e.scrub(e.scrubber(t2.Add(after), nil)); res != (retention.Result{Read: 8, Scrubbed: 3}) {
		t.Errorf("third pass: got %+v, want 8 read, 3 scrubbed", res)
	}
	if got := e.raw("a-0"); !bytes.Equal(got, scrubbedA) {
		t.Errorf("a scrubbed record written again: got %s, want %s", got, scrubbedA)
	}
	if res := e.scrub(e.scrubber(time.Now().Add(after), nil)); res.Read != 3 || res.Scrubbed != 0 {
		t.Errorf("fourth pass: got %+v, want the 3 rewritten records read, none written", res)
	}
}

// TestScrubStartsOverWithANewBucket: a checkpoint past the records
// stream's end means the bucket was deleted and created again, its
// sequences starting over: the pass starts over instead of waiting for
// the new sequences to pass the old checkpoint.
func TestScrubStartsOverWithANewBucket(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.put(fmt.Sprintf("a-%d", i), record.StateCompleted, nil)
	}
	if res := e.scrub(e.scrubber(time.Now().Add(after), nil)); res.Scrubbed != 5 {
		t.Fatalf("first pass: got %+v, want 5 scrubbed", res)
	}
	e.newBucket()
	e.put("b-0", record.StateRejected, nil)
	e.put("b-1", record.StateRejected, nil)
	if res := e.scrub(e.scrubber(time.Now().Add(after), nil)); res != (retention.Result{Read: 2, Scrubbed: 2}) {
		t.Errorf("pass over the new bucket: got %+v, want 2 read, 2 scrubbed", res)
	}
}

// TestTwoScrubbersAtOnce: replicas scrubbing the same bucket at once scrub
// each record once; the loser of a compare-and-set writes nothing.
func TestTwoScrubbersAtOnce(t *testing.T) {
	e := newEnv(t)
	const n = 40
	for i := range n {
		e.put(fmt.Sprintf("c-%d", i), record.StateCompleted, nil)
	}
	now := time.Now().Add(after)
	reg := prometheus.NewRegistry()
	m := retention.NewMetrics(reg)
	var wg sync.WaitGroup
	var results [2]retention.Result
	for i := range results {
		wg.Go(func() {
			var err error
			if results[i], err = e.scrubber(now, m).Scrub(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := results[0].Scrubbed + results[1].Scrubbed; got != n {
		t.Errorf("records scrubbed by both: got %d (%+v), want %d", got, results, n)
	}
	for i := range n {
		if r := e.get(fmt.Sprintf("c-%d", i)); r.Scrubbed.IsZero() {
			t.Errorf("c-%d not scrubbed", i)
		}
	}
	if got := scrubbedTotal(t, reg); got != n {
		t.Errorf("iseed_records_scrubbed_total: got %v, want %d", got, n)
	}
}

// BenchmarkScrubPass measures a pass that scrubs 1000 closed records, and
// a pass over 1000 records that have nothing to scrub (written again by
// the last pass), on an embedded server with file storage.
func BenchmarkScrubPass(b *testing.B) {
	const n = 1000
	for _, tt := range []struct {
		name  string
		dirty bool
	}{{"scrub", true}, {"clean", false}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			srv := natstest.Run(b)
			ctx := context.Background()
			res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
			if err != nil {
				b.Fatal(err)
			}
			store := record.NewStore(res.Records)
			for i := range b.N {
				b.StopTimer()
				for j := range n {
					now := time.Now()
					r := &record.Record{Tenant: "acme", ID: fmt.Sprintf("e-%d-%d", i, j), State: record.StateRejected,
						Created: now, Updated: now, Errors: []publisher.Problem{{Code: "invalid"}}}
					if tt.dirty {
						r.Metadata = json.RawMessage(`{"employee":"7781"}`)
					}
					if _, err := store.Create(ctx, r); err != nil {
						b.Fatal(err)
					}
				}
				s, err := retention.New(retention.Config{After: time.Hour, Batch: 256, Now: func() time.Time { return time.Now().Add(time.Hour) },
					Logger: zerolog.Nop()}, retention.Deps{JS: srv.JS, Records: res.Records, Keys: res.Keys})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				r, err := s.Scrub(ctx)
				if err != nil || r.Read < n {
					b.Fatalf("pass: %+v, %v; want at least %d read", r, err, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N*n)/1e3, "µs/record")
		})
	}
}

// TestScrubStartsOverWithANewLongerBucket: a bucket deleted and made anew
// that already holds more entries than the old checkpoint counted (it was
// refilled before the next pass, or restored) is a new stream all the
// same: the pass starts over, and scrubs the records at its beginning.
func TestScrubStartsOverWithANewLongerBucket(t *testing.T) {
	e := newEnv(t)
	for i := range 3 {
		e.put(fmt.Sprintf("a-%d", i), record.StateCompleted, nil)
	}
	if res := e.scrub(e.scrubber(time.Now().Add(after), nil)); res.Scrubbed != 3 {
		t.Fatalf("first pass: got %+v, want 3 scrubbed", res)
	}
	e.newBucket()
	const n = 8
	for i := range n {
		e.put(fmt.Sprintf("b-%d", i), record.StateRejected, nil)
	}
	if res := e.scrub(e.scrubber(time.Now().Add(after), nil)); res != (retention.Result{Read: n, Scrubbed: n}) {
		t.Errorf("pass over the new bucket: got %+v, want %d read, %d scrubbed", res, n, n)
	}
	for i := range n {
		if r := e.get(fmt.Sprintf("b-%d", i)); r.Scrubbed.IsZero() {
			t.Errorf("b-%d: not scrubbed, and behind the checkpoint: never scrubbed", i)
		}
	}
}

// TestScrubCheckpointSurvivesARestart: the records stream is the same
// stream after the NATS server restarts, so a pass goes on from the
// checkpoint and reads nothing again.
func TestScrubCheckpointSurvivesARestart(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, js: srv.JS, res: res}
	for i := range 3 {
		e.put(fmt.Sprintf("a-%d", i), record.StateCompleted, nil)
	}
	cutoff := time.Now()
	if res := e.scrub(e.scrubber(cutoff.Add(after), nil)); res.Scrubbed != 3 {
		t.Fatalf("first pass: got %+v, want 3 scrubbed", res)
	}
	srv.Stop()
	srv.Start()
	var got retention.Result
	pipetest.WaitFor(t, 10*time.Second, "a pass after the restart", func() bool {
		r, err := e.scrubber(cutoff.Add(after), nil).Scrub(ctx)
		got = r
		return err == nil
	})
	if got.Read != 0 {
		t.Errorf("pass after the restart, same cutoff: got %+v, want nothing read again", got)
	}
}

// TestPassStopsBehindAnother: a pass that finds, at its checkpoint after a
// batch, that another replica's pass has read further stops there instead
// of reading everything again (on an upgrade every replica starts a pass
// over every old record at once).
func TestPassStopsBehindAnother(t *testing.T) {
	e := newEnv(t)
	const n = 20
	for i := range n {
		e.put(fmt.Sprintf("c-%d", i), record.StateCompleted, nil)
	}
	ctx := context.Background()
	checkpoint := e.checkpointAtEnd(3)
	now := time.Now().Add(after)
	calls := 0
	// The other replica's pass, as its checkpoint shows it, reaches the end
	// while this one deals with its first batch (its clock is read once a
	// pass, then once a record).
	s, err := retention.New(retention.Config{After: after, Batch: 4, FetchWait: 200 * time.Millisecond, Logger: zerolog.New(zerolog.NewTestWriter(t)),
		Now: func() time.Time {
			if calls++; calls == 2 {
				if _, err := e.res.Keys.Put(ctx, retention.CheckpointKey, checkpoint); err != nil {
					t.Error(err)
				}
			}
			return now
		}},
		retention.Deps{JS: e.js, Records: e.res.Records, Keys: e.res.Keys})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.scrub(s); got.Read != 4 {
		t.Errorf("pass behind another: read %d records (%+v); want the 4 of its first batch", got.Read, got)
	}
}

// TestScrubStartsOverWhenItRemovesMore: records scrubbed before the scrub
// removed the document's file name lie behind the checkpoint their scrub
// left, and are never read again; a checkpoint written by that scrub
// makes the next pass start over, and cut the names.
func TestScrubStartsOverWhenItRemovesMore(t *testing.T) {
	e := newEnv(t)
	const name = "DSU.RSSMRA80A01H501U.pdf"
	for i := range 3 {
		e.put(fmt.Sprintf("a-%d", i), record.StateCompleted, func(r *record.Record) {
			r.Metadata, r.PersonKey, r.Errors, r.Scrubbed = nil, "", nil, time.Now() // scrubbed as before
			r.Document.Object = "acme/" + r.ID + "/695ca03642f95e56/" + name
		})
	}
	// The checkpoint the earlier scrub left past them.
	if _, err := e.res.Keys.Put(context.Background(), retention.CheckpointKey, e.checkpointAtEnd(0)); err != nil {
		t.Fatal(err)
	}
	if res := e.scrub(e.scrubber(time.Now().Add(after), nil)); res != (retention.Result{Read: 3, Scrubbed: 3}) {
		t.Errorf("pass: got %+v, want 3 read, 3 scrubbed", res)
	}
	for i := range 3 {
		if raw := e.raw(fmt.Sprintf("a-%d", i)); bytes.Contains(raw, []byte(name)) {
			t.Errorf("a-%d: got %s, want the document's file name gone", i, raw)
		}
	}
	if res := e.scrub(e.scrubber(time.Now().Add(after), nil)); res.Scrubbed != 0 {
		t.Errorf("next pass: got %+v, want nothing scrubbed again", res)
	}
}

// TestScrubStartsOverToCutFreeStates: records scrubbed before the scrub
// cut an upstream state the API does not publish (the upstream's free
// text, which may name the person) kept it behind the checkpoint their
// scrub left; a checkpoint written by that scrub (removes 2) makes the
// next pass start over, and cut the states.
func TestScrubStartsOverToCutFreeStates(t *testing.T) {
	e := newEnv(t)
	const free = "Sospesa RSSMRA80A01H501U"
	for i := range 3 {
		e.put(fmt.Sprintf("f-%d", i), record.StateFailed, func(r *record.Record) {
			r.Metadata, r.PersonKey, r.Errors, r.Scrubbed = nil, "", nil, time.Now() // scrubbed as before
			r.Reason, r.StatoRichiesta = "gave_up", free
		})
	}
	if _, err := e.res.Keys.Put(context.Background(), retention.CheckpointKey, e.checkpointAtEnd(2)); err != nil {
		t.Fatal(err)
	}
	if res := e.scrub(e.scrubber(time.Now().Add(after), nil)); res != (retention.Result{Read: 3, Scrubbed: 3}) {
		t.Errorf("pass: got %+v, want 3 read, 3 scrubbed", res)
	}
	for i := range 3 {
		if raw := e.raw(fmt.Sprintf("f-%d", i)); bytes.Contains(raw, []byte("RSSMRA80A01H501U")) {
			t.Errorf("f-%d: got %s, want the upstream's state text gone", i, raw)
		}
	}
}
