package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// changedOnRead is a bucket that runs change at its first Get: a bucket
// deleted, or made anew, while the audit reads its entries.
type changedOnRead struct {
	jetstream.KeyValue
	once   sync.Once
	change func()
}

func (k *changedOnRead) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	k.once.Do(k.change)
	return k.KeyValue.Get(ctx, key)
}

// TestAuditBucketsChangedWhileFirstRead: the audit first reads every
// record and every request index entry, each through a listing of the
// bucket's keys. A bucket deleted while it is listed used to end the
// listing early and silently, and the audit went on with some of the
// books taken for all of them (requests reported unowned, a wrong exit
// code for a cron job); one made anew could be listed with no error
// either. The audit must end with an error that names the bucket and
// what happened to it; with the buckets unchanged it runs.
func TestAuditBucketsChangedWhileFirstRead(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		index  bool // the request index changes, not the records
		anew   bool
		change bool
		want   string
	}{
		{name: "unchanged"},
		{name: "records deleted", change: true, want: "the records bucket was deleted during the audit"},
		{name: "records made anew", change: true, anew: true, want: "the records bucket was made anew during the audit"},
		{name: "index deleted", change: true, index: true, want: "the request index was deleted during the audit"},
		{name: "index made anew", change: true, index: true, anew: true, want: "the request index was made anew during the audit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := natstest.Run(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for i := range 200 {
				id, req := fmt.Sprintf("inv-%03d", i), fmt.Sprintf("req-%03d", i)
				rec := &record.Record{Tenant: "acme", ID: id, Generation: 1, Attempts: 1, Service: "Visura catastale",
					ServiceHash: "eccbc87e4b5ce2fe28308fd9f2a7baf3", Created: now, RequestID: req}
				rec.To(record.StateSubmitted, now, "submitted")
				if _, err := record.NewStore(res.Records).Create(ctx, rec); err != nil {
					t.Fatal(err)
				}
				if _, err := res.Requests.PutString(ctx, record.IndexKey(req), record.Key("acme", id)); err != nil {
					t.Fatal(err)
				}
			}
			kv := &res.Records
			if tt.index {
				kv = &res.Requests
			}
			if tt.change {
				real := *kv
				*kv = &changedOnRead{KeyValue: real, change: func() {
					if err := srv.JS.DeleteKeyValue(ctx, real.Bucket()); err != nil {
						t.Error(err)
					}
					if tt.anew {
						if _, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: real.Bucket()}); err != nil {
							t.Error(err)
						}
					}
				}}
			}
			none := listerFunc(func(context.Context) ([]visengine.RichiestaSummary, error) { return nil, nil })
			r, err := runAudit(ctx, srv.JS, res, none, nil, money.Period{From: now.Add(-time.Hour), To: now.Add(time.Hour)})
			switch {
			case tt.want == "" && (err != nil || r == nil):
				t.Fatalf("audit of unchanged buckets: %v", err)
			case tt.want == "":
			case err == nil || !strings.Contains(err.Error(), tt.want):
				t.Fatalf("audit: %v; want an error saying %q", err, tt.want)
			default:
				t.Logf("audit: %v", err)
			}
		})
	}
}
