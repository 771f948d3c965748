package record_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
)

// TestLeaderGet: a key's value, absence for a key never put and for one
// deleted or purged, and an error for a bucket that does not exist (never
// a silent "absent"); every read asks the stream's leader, none is a
// direct get (which any replica answers, stale or not: the chaos suite
// shows what that costs).
func TestLeaderGet(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "idx", History: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "deleted", "purged"} {
		if _, err := kv.PutString(ctx, k, "acme.emp-"+k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.PutString(ctx, "a", "acme.emp-a2"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "deleted"); err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, "purged"); err != nil {
		t.Fatal(err)
	}
	api, err := srv.NC.SubscribeSync("$JS.API.>") // a listener sees the requests the server answers
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key, want string
		found     bool
	}{
		{"a", "acme.emp-a2", true},
		{"never", "", false},
		{"deleted", "", false},
		{"purged", "", false},
	}
	for _, tt := range tests {
		v, ok, err := record.LeaderGet(ctx, srv.JS, "idx", tt.key)
		if err != nil || ok != tt.found || string(v) != tt.want {
			t.Errorf("%s: got %q, %v, %v; want %q, %v", tt.key, v, ok, err, tt.want, tt.found)
		}
	}
	if _, ok, err := record.LeaderGet(ctx, srv.JS, "nosuchbucket", "a"); err == nil || ok {
		t.Errorf("a bucket that does not exist: got found %v, error %v; want an error", ok, err)
	}
	leader := 0
	for {
		m, err := api.NextMsg(100 * time.Millisecond)
		if err != nil {
			break
		}
		switch {
		case strings.HasPrefix(m.Subject, "$JS.API.DIRECT.GET."):
			t.Errorf("a direct get: %s", m.Subject)
		case m.Subject == "$JS.API.STREAM.MSG.GET.KV_idx":
			leader++
		}
	}
	if leader != len(tests) {
		t.Errorf("requests to the leader: got %d, want %d", leader, len(tests))
	}
}

// TestGetFromLeader: Store.GetFromLeader answers from the bucket's leader
// what Store.Get answers from any replica: a record and its revision (one
// the lagging Get misses), ErrNotFound for one never stored or deleted.
func TestGetFromLeader(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	kv, err := srv.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "records"})
	if err != nil {
		t.Fatal(err)
	}
	lagging := natstest.NewLaggingKV(kv)
	lagging.LagAll()
	st := record.NewStore(lagging)
	r := &record.Record{Tenant: "acme", ID: "emp-1", Generation: 1}
	r.To(record.StateClaimed, time.Now(), "")
	rev, err := st.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Get(ctx, "acme", "emp-1"); err != record.ErrNotFound {
		t.Fatalf("the lagging Get: %v, want ErrNotFound", err)
	}
	got, gotRev, err := st.GetFromLeader(ctx, srv.JS, "acme", "emp-1")
	if err != nil || got.ID != "emp-1" || got.State != record.StateClaimed || gotRev != rev {
		t.Errorf("from the leader: %+v rev %d, %v; want emp-1 claimed at rev %d", got, gotRev, err, rev)
	}
	if err := kv.Delete(ctx, record.Key("acme", "emp-1")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"emp-1", "never"} {
		if _, _, err := st.GetFromLeader(ctx, srv.JS, "acme", id); err != record.ErrNotFound {
			t.Errorf("%s: %v, want ErrNotFound", id, err)
		}
	}
}
