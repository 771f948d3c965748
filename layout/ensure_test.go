package layout

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// TestEnsureAppliesTheDocumentTTLToEveryTenant: a new ISEED_DOCUMENT_TTL
// reaches every tenant's documents bucket when the daemon starts, not only
// the buckets of tenants that store a document afterwards.
func TestEnsureAppliesTheDocumentTTLToEveryTenant(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	l := Layout{DocumentTTL: 720 * time.Hour}
	if _, err := Ensure(ctx, srv.JS, l); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		if _, err := EnsureTenantDocuments(ctx, srv.JS, l, tenant); err != nil {
			t.Fatal(err)
		}
	}
	l.DocumentTTL = 2 * time.Minute
	if _, err := Ensure(ctx, srv.JS, l); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		obs, err := srv.JS.ObjectStore(ctx, l.WithDefaults().TenantDocumentsBucket(tenant))
		if err != nil {
			t.Fatal(err)
		}
		st, err := obs.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.TTL() != 2*time.Minute {
			t.Errorf("%s's documents bucket keeps documents %s, want the new 2m", tenant, st.TTL())
		}
	}
}

// TestEnsureSweepsTenantsPushConsumers: consumers tenants made when they
// could (before iseed made their event consumers and their documents were
// read with direct gets only) are gone after the next start: a push
// consumer on a documents bucket aimed at the submitter's request subject,
// and a tenant's event consumer made as a push consumer, which comes back
// as a pull consumer. iseed's own reads (delivering to _INBOX.) and pull
// consumers stay, and each tenant with a documents bucket has its two event
// consumers.
func TestEnsureSweepsTenantsPushConsumers(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	l := Layout{}
	if _, err := Ensure(ctx, srv.JS, l); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range []string{"acme", "globex"} {
		if _, err := EnsureTenantDocuments(ctx, srv.JS, l, tenant); err != nil {
			t.Fatal(err)
		}
	}
	create := func(stream string, cfg jetstream.ConsumerConfig) {
		t.Helper()
		if _, err := srv.JS.CreateConsumer(ctx, stream, cfg); err != nil {
			t.Fatalf("%s on %s: %v", cfg.Durable, stream, err)
		}
	}
	create("OBJ_iseed_documents_acme", jetstream.ConsumerConfig{Durable: "steal", DeliverSubject: "$JS.API.CONSUMER.MSG.NEXT.ISEED_SUBMISSIONS.submitter",
		HeadersOnly: true, AckPolicy: jetstream.AckExplicitPolicy})
	create("OBJ_iseed_documents_acme", jetstream.ConsumerConfig{Durable: "own-read", DeliverSubject: "_INBOX.abc"})
	create("OBJ_iseed_documents_globex", jetstream.ConsumerConfig{Durable: "a-pull", AckPolicy: jetstream.AckExplicitPolicy})
	create("ISEED_EVENTS", jetstream.ConsumerConfig{Durable: "initech-status", FilterSubject: "iseed.status.initech.>",
		DeliverSubject: "$JS.API.CONSUMER.MSG.NEXT.ISEED_EVENTS.globex-status"})

	res, err := Ensure(ctx, srv.JS, l)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Swept) != 2 {
		t.Errorf("swept %q, want the two push consumers", res.Swept)
	}
	consumers := func(stream string) map[string]string {
		st, err := srv.JS.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		list := st.ListConsumers(ctx)
		for info := range list.Info() {
			out[info.Name] = info.Config.DeliverSubject
		}
		if err := list.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for stream, want := range map[string]map[string]string{
		"OBJ_iseed_documents_acme":   {"own-read": "_INBOX.abc"},
		"OBJ_iseed_documents_globex": {"a-pull": ""},
		"ISEED_EVENTS": {"acme-status": "", "acme-documents": "", "globex-status": "", "globex-documents": "",
			"initech-status": "", "initech-documents": ""},
	} {
		got := consumers(stream)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("consumers of %s (name: deliver subject): got %v, want %v", stream, got, want)
		}
	}
}

// TestEnsureReportsAnotherReplicasSettings: every replica makes the
// submissions and tracking consumers with its own AckWait (and the
// submissions consumer with its MaxDeliver and MaxAckPending) when it
// starts, and the last started wins. Ensure says when it found another value (a
// replica configured otherwise) so that the daemon can warn; it reports
// nothing when the consumers are new or already have this replica's.
func TestEnsureReportsAnotherReplicasSettings(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	older := Layout{AckWait: time.Minute, TrackAckWait: 2 * time.Minute, MaxDeliver: 1000, MaxAckPend: 64}
	newer := Layout{AckWait: 30 * time.Second, TrackAckWait: time.Minute, MaxDeliver: 2000, MaxAckPend: 128}
	want := []SettingChange{
		{Setting: "ISEED_ACK_WAIT", Consumer: older.WithDefaults().Durable(), Found: "1m0s", Own: "30s"},
		{Setting: "ISEED_MAX_DELIVER", Consumer: older.WithDefaults().Durable(), Found: "1000", Own: "2000"},
		{Setting: "ISEED_WORKERS", Consumer: older.WithDefaults().Durable(), Found: "MaxAckPending 64", Own: "MaxAckPending 128"},
		{Setting: "ISEED_TRACK_ACK_WAIT", Consumer: older.WithDefaults().TrackDurable(), Found: "2m0s", Own: "1m0s"},
	}
	for _, step := range []struct {
		name string
		l    Layout
		want []SettingChange
	}{
		{"the first replica", older, nil},
		{"a replica like it", older, nil},
		{"a replica with shorter AckWaits", newer, want},
		{"a replica like that one", newer, nil},
	} {
		res, err := Ensure(ctx, srv.JS, step.l)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(res.SettingsChanged) != fmt.Sprint(step.want) {
			t.Errorf("%s: SettingsChanged %+v, want %+v", step.name, res.SettingsChanged, step.want)
		}
		for _, c := range []struct {
			cons jetstream.Consumer
			want time.Duration
		}{{res.Consumer, step.l.AckWait}, {res.Tracker, step.l.TrackAckWait}} {
			if got := c.cons.CachedInfo().Config.AckWait; got != c.want {
				t.Errorf("%s: consumer %s's AckWait %s, want this replica's %s", step.name, c.cons.CachedInfo().Name, got, c.want)
			}
		}
	}
}
