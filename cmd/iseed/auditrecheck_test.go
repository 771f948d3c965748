package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/audit"
	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// stalledRecords is a records bucket of claimed submissions on a test
// server, read (kv) through a proxy that, while stall is set, drops the
// client's answers to the server's flow control: the server stops
// delivering a watch some 2 MB in, as over a link slower than the bucket
// is big, and its heartbeats keep the watch alive. infos counts the
// records stream infos asked through the proxy; while checks is locked,
// they wait before the proxy passes them on.
type stalledRecords struct {
	srv     *natstest.Server
	kv      jetstream.KeyValue
	created time.Time // when the bucket was made, as the audit reads it first
	n       int
	stall   atomic.Bool
	stalled atomic.Int64 // flow control answers dropped
	infos   atomic.Int64
	checks  sync.RWMutex
}

const stalledBucket = "audit-records"

// stalledRecheck is how often claimedSince checks the stalled bucket.
const stalledRecheck = 200 * time.Millisecond

func newStalledRecords(t *testing.T) *stalledRecords {
	t.Helper()
	ctx := context.Background()
	s := &stalledRecords{srv: natstest.Run(t), n: 600}
	s.srv.KeepStreamsDir(t) // the bucket is the account's only stream, made anew
	s.stall.Store(true)
	kv, err := s.srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: stalledBucket, History: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Each record holds 8 kB of its tenant's metadata: 600 are 5 MB,
	// more than the server delivers unanswered.
	meta := fmt.Appendf(nil, `{"note":%q}`, strings.Repeat("m", 8<<10))
	now := time.Now()
	for i := range s.n {
		rec := &record.Record{Tenant: "acme", ID: fmt.Sprintf("inv-%04d", i), Generation: 1, Attempts: 1, Service: "Visura catastale",
			ServiceHash: "eccbc87e4b5ce2fe28308fd9f2a7baf3", Metadata: meta, Created: now,
			Pending: &record.Attempt{Started: now, Owner: "worker/1", Until: now.Add(time.Minute), Settle: now.Add(time.Minute)}}
		rec.To(record.StateClaimed, now, "claimed")
		if _, err := record.NewStore(kv).Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if s.created, err = bucket.Created(ctx, kv); err != nil {
		t.Fatal(err)
	}
	proxy := natstest.NewDropProxy(t, s.srv.Addr().String())
	proxy.Drop = func(subject string) bool {
		if subject == "$JS.API.STREAM.INFO.KV_"+stalledBucket {
			s.infos.Add(1)
			s.checks.RLock()
			s.checks.RUnlock()
		}
		if strings.HasPrefix(subject, "$JS.FC.") && s.stall.Load() {
			s.stalled.Add(1)
			return true
		}
		return false
	}
	nc, js := natstest.Connect(t, proxy.URL)
	t.Cleanup(nc.Close)
	if s.kv, err = js.KeyValue(ctx, stalledBucket); err != nil {
		t.Fatal(err)
	}
	return s
}

// read runs claimedSince over every record of the bucket, as an audit that
// began before the first was written, with a context without deadline
// (iseed audit's: Ctrl-C alone ends it); it sends what it returns on the
// channel, and the records it read on in. It checks the bucket every
// stalledRecheck, not bucket.Recheck (5 s): each test waits for a check.
func (s *stalledRecords) read(t *testing.T, in *audit.Input) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- claimedSince(context.Background(), s.kv, 0, s.created, in, stalledRecheck) }()
	waitUntil(t, 30*time.Second, "the watch to stall on flow control", func() bool { return s.stalled.Load() > 0 })
	return done
}

// TestAuditRecordsBucketGoneWhileRead: the audit reads the records written
// since it began with a watch, until the watch's marker says it read them
// all. When the records bucket is deleted, or deleted and made anew, while
// the watch reads, the watch's consumer goes on after the old bucket's
// last revision on the new bucket, or on none, and never delivers the
// marker: iseed audit, whose context has no deadline, would wait for ever.
// It must end with an error that says what happened.
func TestAuditRecordsBucketGoneWhileRead(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, want string
		anew       bool
	}{
		{"deleted", "the records bucket was deleted during the audit", false},
		{"deleted and made anew", "the records bucket was made anew during the audit", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newStalledRecords(t)
			ctx := context.Background()
			done := s.read(t, &audit.Input{})
			if tt.anew {
				// A check between the deletion and the making anew would
				// rightly say "deleted": checks wait while the bucket is
				// remade, and the next one waiting shows that the one
				// under way, if any, is over.
				func() {
					s.checks.Lock()
					defer s.checks.Unlock()
					checked := s.infos.Load()
					waitUntil(t, 30*time.Second, "the next check of the bucket, held back", func() bool { return s.infos.Load() > checked })
					s.remake(t)
				}()
			} else if err := s.srv.JS.DeleteKeyValue(ctx, stalledBucket); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("claimedSince: %v; want an error saying %q", err, tt.want)
				}
				t.Logf("claimedSince: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatalf("claimedSince still waiting 30 s after the records bucket was %s", tt.name)
			}
		})
	}
}

// remake deletes the bucket and makes it anew with one record.
func (s *stalledRecords) remake(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := s.srv.JS.DeleteKeyValue(ctx, stalledBucket); err != nil {
		t.Fatal(err)
	}
	kv, err := s.srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: stalledBucket, History: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "acme.inv-new", []byte(`{"tenant":"acme","id":"inv-new","state":"claimed"}`)); err != nil {
		t.Fatal(err)
	}
}

// TestAuditRecordsSlowWatchKeepsReading: a watch the link slows down (no
// record delivered for longer than the bucket's check) is still the
// audit's: once the link goes on, it reads every record, and no error.
func TestAuditRecordsSlowWatchKeepsReading(t *testing.T) {
	t.Parallel()
	s := newStalledRecords(t)
	in := &audit.Input{}
	done := s.read(t, in)
	checked := s.infos.Load()
	waitUntil(t, 30*time.Second, "a check of the records stream while the watch is stalled", func() bool { return s.infos.Load() > checked })
	select {
	case err := <-done:
		t.Fatalf("claimedSince returned %v while its watch was slow but alive; want it to keep reading", err)
	default:
	}
	s.stall.Store(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("claimedSince: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("claimedSince still reading 30 s after the link went on")
	}
	if len(in.Records) != s.n {
		t.Errorf("read %d records; want %d", len(in.Records), s.n)
	}
}

// TestAuditRecordsBucketMadeAnewBeforeWatch: the audit reads the records
// stream's last sequence when it begins, and the records written after
// it once it has listed the upstream. A records bucket deleted and made
// anew in between (an operator, iseed serve making it again on start)
// numbers its records from 1: the watch starts after the old bucket's
// last revision, finds nothing there, and says all is read, leaving out
// the new bucket's claimed submissions, and the audit reads as sound.
func TestAuditRecordsBucketMadeAnewBeforeWatch(t *testing.T) {
	srv := natstest.Run(t)
	srv.KeepStreamsDir(t) // the bucket is the account's only stream, made anew
	ctx := context.Background()
	cfg := jetstream.KeyValueConfig{Bucket: stalledBucket, History: 1}
	kv, err := srv.JS.CreateKeyValue(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	claimed := func(kv jetstream.KeyValue, id string) {
		t.Helper()
		now := time.Now()
		rec := &record.Record{Tenant: "acme", ID: id, Generation: 1, Attempts: 1, Service: "Visura catastale", Created: now,
			Pending: &record.Attempt{Started: now, Owner: "worker/1", Until: now.Add(time.Minute), Settle: now.Add(time.Minute)}}
		rec.To(record.StateClaimed, now, "claimed")
		if _, err := record.NewStore(kv).Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"inv-1", "inv-2", "inv-3"} {
		claimed(kv, id)
	}
	st, err := srv.JS.Stream(ctx, "KV_"+stalledBucket)
	if err != nil {
		t.Fatal(err)
	}
	since, created := st.CachedInfo().State.LastSeq, st.CachedInfo().Created
	if err := srv.JS.DeleteKeyValue(ctx, stalledBucket); err != nil {
		t.Fatal(err)
	}
	if kv, err = srv.JS.CreateKeyValue(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	claimed(kv, "inv-new")
	done := make(chan error, 1)
	go func() { done <- claimedSince(ctx, kv, since, created, &audit.Input{}, bucket.Recheck) }() // the marker, not a check, ends it
	select {
	case err := <-done:
		const want = "the records bucket was made anew during the audit"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("claimedSince: %v; want an error saying %q", err, want)
		}
		t.Logf("claimedSince: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("claimedSince still waiting 30 s after it began")
	}
}
