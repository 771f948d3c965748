package schema

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/iseed-dev/iseed/visengine"
)

// fakeUpstream serves the test schemas, counts calls, and can fail or hold
// calls until released.
type fakeUpstream struct {
	mu       sync.Mutex
	catalog  []visengine.VisuraSummary
	services map[string]*visengine.Visura
	err      error         // every call fails with it when set
	gate     chan struct{} // Visura waits for it to close when set
	calls    map[string]int
}

func newFakeUpstream(t testing.TB, files ...string) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{services: map[string]*visengine.Visura{}, calls: map[string]int{}}
	for _, name := range files {
		s := loadService(t, name)
		f.services[s.Hash] = s.Raw
		f.catalog = append(f.catalog, visengine.VisuraSummary{NomeVisura: s.Raw.NomeVisura, NomeCategoria: s.Category, HashVisura: s.Hash})
	}
	return f
}

func (f *fakeUpstream) Visure(ctx context.Context) ([]visengine.VisuraSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls["catalog"]++
	if f.err != nil {
		return nil, f.err
	}
	return append([]visengine.VisuraSummary(nil), f.catalog...), nil
}

func (f *fakeUpstream) Visura(ctx context.Context, hash string) (*visengine.Visura, error) {
	f.mu.Lock()
	f.calls[hash]++
	gate, err, v := f.gate, f.err, f.services[hash]
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, &visengine.Error{Op: "GET /visure/{hash}", Status: 400, Code: 200, Message: "wrong hash_visura", Class: visengine.ClassPermanent}
	}
	cp := *v // as a client would: a fresh value per call
	return &cp, nil
}

func (f *fakeUpstream) count(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[key]
}

func (f *fakeUpstream) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func errDown() error {
	return &visengine.Error{Op: "GET /visure/{hash}", Status: 503, Message: "service unavailable", Class: visengine.ClassRetryable}
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer collects log lines from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runJetStream starts an embedded NATS server with JetStream.
func runJetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	opts := test.DefaultTestOptions
	opts.Port = -1
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	srv := test.RunServer(&opts)
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func newBucket(t testing.TB, js jetstream.JetStream) jetstream.KeyValue {
	t.Helper()
	kv, err := EnsureBucket(t.Context(), js, "", 1, jetstream.MemoryStorage)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestEnsureBucketIdempotent(t *testing.T) {
	js := runJetStream(t)
	for range 2 {
		kv, err := EnsureBucket(t.Context(), js, "", 0, jetstream.FileStorage)
		if err != nil {
			t.Fatalf("EnsureBucket: %v", err)
		}
		if kv.Bucket() != DefaultBucket {
			t.Errorf("bucket %q, want %q", kv.Bucket(), DefaultBucket)
		}
	}
}

func TestServiceKey(t *testing.T) {
	tests := []struct{ hash, want string }{
		{"6aa0789f5ba34684b2bc5ccf364f8929", "visura.6aa0789f5ba34684b2bc5ccf364f8929"},
		{"Zq3xK8_catastale-storica-0000001", "visura.Zq3xK8_catastale-storica-0000001"},
		{"a.b", "visura.x.612e62"},
		{"x.612e62", "visura.x.782e363132653632"},
		{"Ab+/=z", "visura.x.41622b2f3d7a"},
	}
	for _, tt := range tests {
		if got := serviceKey(tt.hash); got != tt.want {
			t.Errorf("serviceKey(%q) = %q, want %q", tt.hash, got, tt.want)
		}
	}
}

// TestCacheLayers: memory, then the bucket shared by replicas, then the
// upstream; a name is resolved through the cached catalog.
func TestCacheLayers(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json", "camerale.json")
	clk := &clock{now: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	cfg := CacheConfig{TTL: time.Hour, Now: clk.Now}
	hash := "6aa0789f5ba34684b2bc5ccf364f8929"
	ctx := t.Context()

	replica1 := NewCache(up, kv, cfg)
	for _, name := range []string{"ISEE", "isee", " Isee ", hash} {
		s, err := replica1.Service(ctx, name)
		if err != nil || s.Hash != hash {
			t.Fatalf("Service(%q) = %v, %v; want ISEE", name, s, err)
		}
	}
	if up.count(hash) != 1 || up.count("catalog") != 1 {
		t.Errorf("upstream calls: %v, want one catalog and one service call", up.calls)
	}

	replica2 := NewCache(up, kv, cfg) // another replica: empty memory, same bucket
	if _, err := replica2.Service(ctx, "isee"); err != nil {
		t.Fatal(err)
	}
	if up.count(hash) != 1 || up.count("catalog") != 1 {
		t.Errorf("upstream calls after a second replica: %v, want still one each (served from the bucket)", up.calls)
	}

	clk.advance(time.Hour + time.Second)
	if _, err := replica2.Service(ctx, "isee"); err != nil {
		t.Fatal(err)
	}
	if up.count(hash) != 2 || up.count("catalog") != 2 {
		t.Errorf("upstream calls after the TTL: %v, want two each", up.calls)
	}
	if _, err := replica1.Service(ctx, hash); err != nil {
		t.Fatal(err)
	}
	if up.count(hash) != 2 {
		t.Errorf("replica 1 asked the upstream again (%d calls) though replica 2 refreshed the bucket", up.count(hash))
	}
}

// TestCacheStale: while the upstream is down an expired entry is served,
// from memory or from the bucket, and the failure is logged.
func TestCacheStale(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json")
	clk := &clock{now: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	var logs syncBuffer
	cfg := CacheConfig{TTL: time.Hour, RetryStale: time.Minute, Now: clk.Now, Logger: zerolog.New(&logs)}
	hash := "6aa0789f5ba34684b2bc5ccf364f8929"
	ctx := t.Context()

	c := NewCache(up, kv, cfg)
	if _, err := c.Service(ctx, "ISEE"); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Hour)
	for _, down := range []error{errDown(), &visengine.Error{Class: visengine.ClassThrottled}, &visengine.Error{Class: visengine.ClassAmbiguous}, context.DeadlineExceeded} {
		up.fail(down)
		clk.advance(2 * time.Minute) // past RetryStale: the upstream is asked again
		before := up.count(hash)
		s, err := c.Service(ctx, "ISEE")
		if err != nil || s.Hash != hash {
			t.Fatalf("upstream down (%v): Service = %v, %v; want the stale ISEE", down, s, err)
		}
		if up.count(hash) != before+1 {
			t.Errorf("upstream down (%v): %d calls, want one more", down, up.count(hash)-before)
		}
	}
	before := up.count(hash)
	if _, err := c.Service(ctx, hash); err != nil {
		t.Fatal(err)
	}
	if up.count(hash) != before {
		t.Errorf("the upstream was asked again within RetryStale")
	}
	if !bytes.Contains([]byte(logs.String()), []byte("serving an expired schema")) || !bytes.Contains([]byte(logs.String()), []byte(`"component":"schema"`)) {
		t.Errorf("logs = %s, want the stale service logged with component schema", logs.String())
	}

	up.fail(errDown())
	fresh := NewCache(up, kv, cfg) // a replica that starts while the upstream is down
	if s, err := fresh.Service(ctx, hash); err != nil || s.Hash != hash {
		t.Errorf("new replica, upstream down: Service = %v, %v; want the stale entry from the bucket", s, err)
	}
	if _, err := fresh.Service(ctx, "ISEE"); err != nil {
		t.Errorf("new replica, upstream down, by name: %v; want the stale catalog from the bucket", err)
	}
	if _, err := fresh.Service(ctx, "ffffffffffffffffffffffffffffffff"); visengine.ClassOf(err) != visengine.ClassRetryable {
		t.Errorf("nothing cached, upstream down: err = %v, want the retryable upstream error", err)
	}

	up.fail(nil)
	clk.advance(2 * time.Minute)
	before = up.count(hash)
	if _, err := c.Service(ctx, hash); err != nil || up.count(hash) != before+1 {
		t.Errorf("upstream back: Service err %v after %d calls, want a fresh fetch", err, up.count(hash)-before)
	}
}

// TestCacheUnknown: a not-found answer is an unknown service even when a
// stale entry exists; other permanent failures are errors, not stale.
func TestCacheUnknown(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json")
	clk := &clock{now: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	c := NewCache(up, kv, CacheConfig{TTL: time.Hour, Now: clk.Now})
	ctx := t.Context()
	if _, err := c.Service(ctx, "NASPI"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Service(NASPI) = %v, want ErrUnknownService", err)
	}
	if _, err := c.Service(ctx, ""); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Service(\"\") = %v, want ErrUnknownService", err)
	}
	hash := "6aa0789f5ba34684b2bc5ccf364f8929"
	if _, err := c.Service(ctx, hash); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * time.Hour)
	up.fail(&visengine.Error{Status: 404, Class: visengine.ClassNotFound})
	if _, err := c.Service(ctx, hash); !errors.Is(err, ErrUnknownService) {
		t.Errorf("withdrawn service: err = %v, want ErrUnknownService", err)
	}
	up.fail(&visengine.Error{Status: 401, Class: visengine.ClassPermanent, Message: "unauthorized"})
	_, err := c.Service(ctx, hash)
	if err == nil || errors.Is(err, ErrUnknownService) || visengine.ClassOf(err) != visengine.ClassPermanent {
		t.Errorf("401: err = %v, want the permanent upstream error, not unknown and not stale", err)
	}
}

// TestCacheBadBucketEntry: an unreadable record is logged and replaced.
func TestCacheBadBucketEntry(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	hash := "6aa0789f5ba34684b2bc5ccf364f8929"
	for _, bad := range []string{"{", `{"v":2,"data":{}}`, `{"v":1,"fetched_at":"2026-01-10T09:00:00Z","data":{"hash_visura":"x","json_struttura":{"campi":{"$0":{}},"validazione":"$1"}}}`} {
		if _, err := kv.Put(t.Context(), serviceKey(hash), []byte(bad)); err != nil {
			t.Fatal(err)
		}
		up := newFakeUpstream(t, "isee.json")
		var logs syncBuffer
		c := NewCache(up, kv, CacheConfig{Logger: zerolog.New(&logs)})
		if _, err := c.Service(t.Context(), hash); err != nil || up.count(hash) != 1 {
			t.Errorf("bad record %q: err %v, %d upstream calls; want one", bad, err, up.count(hash))
		}
		if logs.String() == "" {
			t.Errorf("bad record %q not logged", bad)
		}
	}
}

// TestCacheUnsafeHash: a hash outside the KV key alphabet is stored under
// an encoded key.
func TestCacheUnsafeHash(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t)
	raw := loadService(t, "camerale.json").Raw
	hash := "Ab+/=z.q 1"
	raw.HashVisura = hash
	up.services[hash] = raw
	up.catalog = append(up.catalog, visengine.VisuraSummary{NomeVisura: "odd", HashVisura: hash})
	c := NewCache(up, kv, CacheConfig{})
	if s, err := c.Service(t.Context(), hash); err != nil || s.Hash != hash {
		t.Fatalf("Service(%q) = %v, %v", hash, s, err)
	}
	e, err := kv.Get(t.Context(), serviceKey(hash))
	if err != nil {
		t.Fatalf("kv entry: %v", err)
	}
	var r record
	if err := json.Unmarshal(e.Value(), &r); err != nil || r.V != 1 || r.FetchedAt.IsZero() {
		t.Errorf("record %s: %v", e.Value(), err)
	}
}

// TestCacheSingleflight: N concurrent misses for one service make one
// upstream call (embedded NATS, real bucket).
func TestCacheSingleflight(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json")
	hash := "6aa0789f5ba34684b2bc5ccf364f8929"
	up.gate = make(chan struct{})
	c := NewCache(up, kv, CacheConfig{})
	const n = 20
	var started, done sync.WaitGroup
	errs := make(chan error, n)
	started.Add(n)
	for range n {
		done.Go(func() {
			started.Done()
			s, err := c.Service(t.Context(), hash)
			if err == nil && s.Hash != hash {
				err = fmt.Errorf("got service %q", s.Hash)
			}
			errs <- err
		})
	}
	started.Wait()
	waitFor(t, func() bool { return up.count(hash) > 0 })
	close(up.gate)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := up.count(hash); got != 1 {
		t.Errorf("%d concurrent misses made %d upstream calls, want 1", n, got)
	}
}

// TestCacheSingleflightExact proves the same with every caller provably
// waiting before the upstream answers (synctest; memory only).
func TestCacheSingleflightExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newFakeUpstream(t, "isee.json")
		hash := "6aa0789f5ba34684b2bc5ccf364f8929"
		up.gate = make(chan struct{})
		c := NewCache(up, nil, CacheConfig{})
		const n = 50
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if _, err := c.Service(context.Background(), hash); err != nil {
					t.Error(err)
				}
			})
		}
		synctest.Wait() // every caller is blocked: one in the upstream, the rest waiting for it
		if got := up.count(hash); got != 1 {
			t.Errorf("%d waiting callers made %d upstream calls, want 1", n, got)
		}
		close(up.gate)
		wg.Wait()
	})
}

// TestCacheCallerCancel: a caller that gives up does not fail the others.
func TestCacheCallerCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		up := newFakeUpstream(t, "isee.json")
		hash := "6aa0789f5ba34684b2bc5ccf364f8929"
		up.gate = make(chan struct{})
		c := NewCache(up, nil, CacheConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := c.Service(ctx, hash); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled caller: err = %v, want context.Canceled", err)
			}
		})
		synctest.Wait()
		wg.Go(func() {
			if _, err := c.Service(context.Background(), hash); err != nil {
				t.Errorf("second caller: %v", err)
			}
		})
		synctest.Wait()
		cancel()
		synctest.Wait()
		close(up.gate)
		wg.Wait()
		if got := up.count(hash); got != 1 {
			t.Errorf("%d upstream calls, want 1", got)
		}
	})
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond) // polling, not waiting a fixed time
	}
}

// TestCacheUnknownNameCostsNoUpstreamCall: a name the (fresh) catalog does
// not know, and that cannot be a hash, is unknown without asking the
// upstream; a 32-character key might be a hash the catalog lacks, and is asked.
func TestCacheUnknownNameCostsNoUpstreamCall(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json") // a catalog without those names (an empty one is unavailable)
	c := NewCache(up, kv, CacheConfig{})
	for _, name := range []string{"ISEE CORRENTISSIMO", "x", strings.Repeat("<", 300)} {
		if _, err := c.Service(t.Context(), name); !errors.Is(err, ErrUnknownService) {
			t.Errorf("Service(%.20q): got %v, want ErrUnknownService", name, err)
		}
		if got := up.count(name); got != 0 {
			t.Errorf("Service(%.20q): %d upstream calls, want 0", name, got)
		}
	}
	hashLike := strings.Repeat("a", 32)
	if _, err := c.Service(t.Context(), hashLike); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Service(hash-like): got %v, want ErrUnknownService", err)
	}
	if got := up.count(hashLike); got != 0 {
		t.Errorf("Service(hash-like) with the catalog just read: %d upstream calls, want 0", got)
	}
}

// TestCacheMadeUpHashesCostNoUpstreamBudget: a hash the catalog does not
// list makes the cache read the catalog again, at most once a
// CatalogRecheck, never ask for the hash itself. Each submission naming a
// made-up hash once cost a GET /visure/{hash} from the upstream budget
// every tenant shares, unknown answers being cached by no one: a tenant
// could spend it all with submissions that are rejected and cost nothing
// (seen: 200 of them, naming three hashes, cost 47 calls and delayed
// another tenant's submission 3.4 s). A service added since the catalog was
// read is still found once the catalog is that old.
func TestCacheMadeUpHashesCostNoUpstreamBudget(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json")
	clk := &clock{now: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	c := NewCache(up, kv, CacheConfig{TTL: 24 * time.Hour, Now: clk.Now})
	ctx := t.Context()
	hashCalls := func() int {
		up.mu.Lock()
		defer up.mu.Unlock()
		n := 0
		for k, v := range up.calls {
			if k != "catalog" {
				n += v
			}
		}
		return n
	}
	for i := range 100 {
		if _, err := c.Service(ctx, fmt.Sprintf("%032d", i)); !errors.Is(err, ErrUnknownService) {
			t.Fatalf("Service(made-up hash %d): got %v, want ErrUnknownService", i, err)
		}
	}
	if got := hashCalls(); got != 0 {
		t.Errorf("100 made-up hashes: got %d calls for them, want 0", got)
	}
	if got := up.count("catalog"); got != 1 {
		t.Errorf("100 made-up hashes within a minute: got %d catalog reads, want 1", got)
	}

	// A service added upstream after the catalog was read.
	added := strings.Repeat("b", 32)
	up.mu.Lock()
	v := *up.services["6aa0789f5ba34684b2bc5ccf364f8929"]
	v.HashVisura, v.NomeVisura = added, "ISEE NUOVO"
	up.services[added] = &v
	up.catalog = append(up.catalog, visengine.VisuraSummary{NomeVisura: v.NomeVisura, HashVisura: added})
	up.mu.Unlock()
	if _, err := c.Service(ctx, added); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Service(added) with the catalog read just before: got %v, want ErrUnknownService", err)
	}
	clk.advance(DefaultCatalogRecheck + time.Second)
	for i := range 10 {
		if _, err := c.Service(ctx, fmt.Sprintf("%032d", 1000+i)); !errors.Is(err, ErrUnknownService) {
			t.Fatalf("Service(made-up hash %d): got %v, want ErrUnknownService", 1000+i, err)
		}
	}
	if got := up.count("catalog"); got != 2 {
		t.Errorf("made-up hashes a minute later: got %d catalog reads, want 2", got)
	}
	if s, err := c.Service(ctx, added); err != nil || s.Hash != added {
		t.Errorf("Service(added) once the catalog was read again: got %v, %v; want the service", s, err)
	}
	if got, want := hashCalls(), 1; got != want {
		t.Errorf("calls for hashes: got %d, want %d (the added service's)", got, want)
	}
}

// TestCacheBrokenAnswersAreNotCached: an empty catalog or a schema answer
// naming no service and no field ("data": {}) is a broken answer. Cached,
// it would refuse every submission as an unknown service until the TTL
// ends; it is transient instead, and the next use asks again.
func TestCacheBrokenAnswersAreNotCached(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json")
	hash := "6aa0789f5ba34684b2bc5ccf364f8929"
	real, catalog := up.services[hash], up.catalog
	up.catalog, up.services[hash] = nil, &visengine.Visura{}
	c := NewCache(up, kv, CacheConfig{TTL: time.Hour})
	ctx := t.Context()
	for _, key := range []string{"ISEE", hash} {
		if _, err := c.Service(ctx, key); err == nil || errors.Is(err, ErrUnknownService) {
			t.Errorf("Service(%s) on broken answers = %v, want a transient error, not unknown", key, err)
		}
	}
	up.mu.Lock()
	up.catalog, up.services[hash] = catalog, real
	up.mu.Unlock()
	for _, key := range []string{"ISEE", hash} {
		if s, err := c.Service(ctx, key); err != nil || s.Hash != hash {
			t.Errorf("Service(%s) once the answers are whole = %v, %v; want the ISEE schema", key, s, err)
		}
	}
}

// TestCacheErrorsNameNoServiceText: while the upstream is down, a
// submission's service text (a tenant may put anything there, a person's
// name and tax code included) is tried as a hash; the error, which the
// pipeline logs and puts in an expired dead letter, must not quote it.
func TestCacheErrorsNameNoServiceText(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json")
	up.err = errors.New("connection refused")
	c := NewCache(up, kv, CacheConfig{})
	const text = "Zebedeo Quintilio RSSMRA80A01H501U"
	_, err := c.Service(t.Context(), text)
	if err == nil || errors.Is(err, ErrUnknownService) {
		t.Fatalf("Service while the upstream is down: got %v, want a transient error", err)
	}
	if strings.Contains(err.Error(), "RSSMRA") || strings.Contains(err.Error(), "Zebedeo") {
		t.Errorf("error quotes the service text: %v", err)
	}
	hash := strings.Repeat("b", 32)
	if _, err := c.Service(t.Context(), hash); err == nil || !strings.Contains(err.Error(), hash) {
		t.Errorf("Service(a hash) while the upstream is down: got %v, want the hash named", err)
	}
}

// TestCacheLogNamesNoServiceText: while the catalog is unavailable a
// submission's service text is tried as a hash, and read from the bucket
// under a key made of it. When the bucket cannot be read, the warning
// names what was looked up as the errors do (a text by its length), never
// the text, which may be whatever a tenant wrote: a tax code, a name.
func TestCacheLogNamesNoServiceText(t *testing.T) {
	js := runJetStream(t)
	kv := newBucket(t, js)
	if err := js.DeleteKeyValue(t.Context(), kv.Bucket()); err != nil { // unreadable from now on
		t.Fatal(err)
	}
	up := newFakeUpstream(t, "isee.json")
	up.fail(errDown())
	var logs syncBuffer
	c := NewCache(up, kv, CacheConfig{Logger: zerolog.New(&logs)})
	for _, text := range []string{"RSSMRA80A01H501U", "Zebedeo Quintilio RSSMRA80A01H501U"} {
		if _, err := c.Service(t.Context(), text); err == nil || errors.Is(err, ErrUnknownService) {
			t.Fatalf("Service(%q) while the upstream and the bucket are down: got %v, want a transient error", text, err)
		}
		for _, form := range []string{"RSSMRA", hex.EncodeToString([]byte(text))} {
			if strings.Contains(logs.String(), form) {
				t.Errorf("log carries the service text %q (as %q): got %s", text, form, logs.String())
			}
		}
	}
	if !strings.Contains(logs.String(), "schema bucket unreadable") {
		t.Errorf("log: got %s, want the unreadable bucket warned of", logs.String())
	}
}

// TestCacheRecheckDuringAnOutage: while the catalog cannot be read, a hash
// it does not list is asked for, as without a catalog, and the catalog is
// tried again at most once a CatalogRecheck, not once per submission.
func TestCacheRecheckDuringAnOutage(t *testing.T) {
	kv := newBucket(t, runJetStream(t))
	up := newFakeUpstream(t, "isee.json")
	clk := &clock{now: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	c := NewCache(up, kv, CacheConfig{TTL: 24 * time.Hour, Now: clk.Now})
	ctx := t.Context()
	if _, err := c.Service(ctx, "ISEE"); err != nil {
		t.Fatal(err)
	}
	clk.advance(2 * DefaultCatalogRecheck)
	up.fail(errDown())
	for i := range 10 {
		hash := fmt.Sprintf("%032d", i)
		if _, err := c.Service(ctx, hash); err == nil || errors.Is(err, ErrUnknownService) {
			t.Errorf("Service(%s) while the upstream is down: got %v, want a transient error", hash, err)
		}
		if got := up.count(hash); got != 1 {
			t.Errorf("Service(%s) while the upstream is down: got %d calls for it, want 1", hash, got)
		}
	}
	if got := up.count("catalog"); got != 2 {
		t.Errorf("10 made-up hashes while the upstream is down: got %d catalog reads, want 2 (the first, one retry)", got)
	}
}
