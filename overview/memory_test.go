package overview

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// kvEntry is a records-bucket change as the watch delivers it.
type kvEntry struct {
	key   string
	value []byte
	op    jetstream.KeyValueOp
}

func (e kvEntry) Bucket() string                  { return "iseed_submissions" }
func (e kvEntry) Key() string                     { return e.key }
func (e kvEntry) Value() []byte                   { return e.value }
func (e kvEntry) Revision() uint64                { return 1 }
func (e kvEntry) Created() time.Time              { return testNow }
func (e kvEntry) Delta() uint64                   { return 0 }
func (e kvEntry) Operation() jetstream.KeyValueOp { return e.op }

// openRecords returns n open records spread over 20 tenants and the four
// open states, each with a realistic timeline, keyed like the bucket.
func openRecords(n int) []*record.Record {
	states := []string{record.StateSubmitted, record.StateInProgress, record.StateDataReady, record.StateCompleted}
	out := make([]*record.Record, n)
	for i := range out {
		s := synthetic{tenant: fmt.Sprintf("tenant-%02d", i%20), id: fmt.Sprintf("emp-%08d-isee-2026", i),
			state: states[i%len(states)], request: true, age: time.Duration(i) * time.Second, doc: "-"}
		r := s.record()
		r.Service, r.ServiceHash, r.Fingerprint = "ISEE Ordinario", "6aa0789f5ba34684b2bc5ccf364f8929", "9f86d081884c7d659a2feaa0c55ad015"
		r.StatoRichiesta = "In erogazione"
		out[i] = r
	}
	return out
}

// heapAfterGC is the live heap, measured after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestWatcherMemory applies 100,000 open records as the first pass of the
// watch does and measures what the watcher keeps of them.
func TestWatcherMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds 100,000 records, and measures the heap: not with -short or -race")
	}
	const n = 100_000
	w := NewWatcher(nil, time.Hour, zerolog.Nop())
	recs := openRecords(n)
	before := heapAfterGC()
	tl := newTally()
	for _, r := range recs {
		// The watch's keys are cut from a message subject; values are garbage once counted.
		subject := "$KV.iseed_submissions." + record.Key(r.Tenant, r.ID)
		w.apply(tl, kvEntry{key: subject[len("$KV.iseed_submissions."):], value: mustJSON(t, r), op: jetstream.KeyValuePut})
	}
	after := heapAfterGC()
	runtime.KeepAlive(recs)
	perRecord := float64(after-before) / n
	t.Logf("%d open records: %.1f MB kept, %.0f bytes per record", n, float64(after-before)/1e6, perRecord)
	if got := len(tl.entries); got != n {
		t.Fatalf("entries: got %d, want %d", got, n)
	}
	if perRecord > 120 {
		t.Errorf("bytes per record: got %.0f, want at most 120", perRecord)
	}
	c := tl.counts(&w.names, testNow, time.Hour)
	if c.OpenTotal != n {
		t.Errorf("open: got %d, want %d", c.OpenTotal, n)
	}
	runtime.KeepAlive(tl)
}

// BenchmarkWatcherApply is one change of the records bucket counted.
func BenchmarkWatcherApply(b *testing.B) {
	recs := openRecords(1000)
	values := make([][]byte, len(recs))
	for i, r := range recs {
		values[i] = mustJSON(b, r)
	}
	w := NewWatcher(nil, time.Hour, zerolog.Nop())
	tl := newTally()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := recs[i%len(recs)]
		w.apply(tl, kvEntry{key: record.Key(r.Tenant, r.ID), value: values[i%len(recs)], op: jetstream.KeyValuePut})
	}
}

// BenchmarkCounts100k is one Counts (the scan for the oldest and the
// overdue) over 100,000 open requests.
func BenchmarkCounts100k(b *testing.B) {
	w := NewWatcher(nil, time.Hour, zerolog.Nop())
	tl := newTally()
	for _, r := range openRecords(100_000) {
		w.apply(tl, kvEntry{key: record.Key(r.Tenant, r.ID), value: mustJSON(b, r), op: jetstream.KeyValuePut})
	}
	b.ReportAllocs()
	for b.Loop() {
		tl.counts(&w.names, testNow, 360*time.Hour)
	}
}

// BenchmarkWatcherFirstPass100k stores 100,000 open records in the records
// bucket of an embedded server, then times a Watcher's first pass over
// them and measures its heap.
func BenchmarkWatcherFirstPass100k(b *testing.B) {
	const n = 100_000
	srv := natstest.Run(b)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		b.Fatal(err)
	}
	for i, r := range openRecords(n) {
		if _, err := srv.JS.PublishAsync("$KV."+res.Layout.RecordsBucket()+"."+record.Key(r.Tenant, r.ID), mustJSON(b, r)); err != nil {
			b.Fatal(err)
		}
		if i%2000 == 1999 {
			<-srv.JS.PublishAsyncComplete()
		}
	}
	<-srv.JS.PublishAsyncComplete()
	b.ResetTimer()
	for b.Loop() {
		before := heapAfterGC()
		w := NewWatcher(res.Records, time.Hour, zerolog.Nop())
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		start := time.Now()
		go func() { defer close(done); _ = w.Run(wctx) }()
		<-w.Ready()
		took := time.Since(start)
		after := heapAfterGC()
		c, _ := w.Counts(testNow)
		cancel()
		<-done
		if c.OpenTotal != n {
			b.Fatalf("open: got %d, want %d", c.OpenTotal, n)
		}
		b.ReportMetric(took.Seconds(), "s/first-pass")
		b.ReportMetric(float64(after-before)/n, "heap-bytes/record")
	}
}
