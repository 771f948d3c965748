package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// check is one thing a hostile tenant tries, and the permissions violation
// that stops it: op is "Publish" or "Subscription" and subject is what the
// server names. A check that makes a request also wants it to fail.
type check struct {
	name    string
	op      string
	subject string
	request bool
	do      func(ctx context.Context) error
}

// hostileChecks are what tenant tc tries against victim, the other
// tenant (known by one of its documents), and against iseed. They match
// docs/security.md's table, "A tenant cannot".
func hostileChecks(tc *tenant, victim publisher.DocumentReady) []check {
	self, v, vid := tc.name, victim.Tenant, victim.SubmissionID
	var checks []check
	pub := func(name, subject string) {
		checks = append(checks, check{name, "Publish", subject, false, func(context.Context) error {
			return tc.nc.Publish(subject, []byte(`{}`))
		}})
	}
	req := func(name, subject, body string) {
		checks = append(checks, check{name, "Publish", subject, true, func(ctx context.Context) error {
			_, err := tc.nc.RequestWithContext(ctx, subject, []byte(body))
			return err
		}})
	}
	api := func(name, subject string, do func(ctx context.Context) error) {
		checks = append(checks, check{name, "Publish", subject, true, do})
	}
	sub := func(name, subject string) {
		checks = append(checks, check{name, "Subscription", subject, false, func(context.Context) error {
			_, err := tc.nc.SubscribeSync(subject)
			return err
		}})
	}
	bind := func(name, stream string) {
		api(name, "$JS.API.STREAM.INFO."+stream, func(ctx context.Context) error { _, err := tc.js.Stream(ctx, stream); return err })
	}
	consume := func(name, stream, durable, filter string) {
		subject := "$JS.API.CONSUMER.CREATE." + stream + "." + durable
		if filter != "" {
			subject += "." + filter
		}
		api(name, subject, func(ctx context.Context) error {
			_, err := tc.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: durable, FilterSubject: filter})
			return err
		})
	}
	meta := func(bucket, object string) string {
		return "$O." + bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(object))
	}

	// Submissions: only its own subject, where operators' replays go too.
	api("publish a submission as "+v, "iseed.submissions."+v, func(ctx context.Context) error {
		_, err := tc.js.Publish(ctx, "iseed.submissions."+v, []byte(`{}`))
		return err
	})
	req("pull from iseed's submitter consumer", "$JS.API.CONSUMER.MSG.NEXT.ISEED_SUBMISSIONS.submitter", `{"batch":1}`)
	consume("create a consumer on the submissions", "ISEED_SUBMISSIONS", self+"-spy", "iseed.submissions."+v)
	bind("read the submissions stream", "ISEED_SUBMISSIONS")

	// Events: only its own, never forged.
	sub("subscribe to "+v+"'s status events", "iseed.status."+v+".>")
	sub("subscribe to "+v+"'s document events", "iseed.documents."+v+".>")
	sub("subscribe to every tenant's status events", "iseed.status.>")
	sub("subscribe to the account events", "iseed.account.wallet")
	req("pull from "+v+"'s consumer", "$JS.API.CONSUMER.MSG.NEXT.ISEED_EVENTS."+v+"-status", `{"batch":1}`)
	consume("create "+v+"'s consumer", "ISEED_EVENTS", v+"-status", "iseed.status."+v+".>")
	consume("its own consumer name on "+v+"'s events", "ISEED_EVENTS", self+"-status", "iseed.status."+v+".>")
	// Not even its own: iseed makes it. A consumer it made could be a push
	// consumer delivering into a pull consumer's requests (tenantpush_test.go).
	consume("create its own status consumer", "ISEED_EVENTS", self+"-status", "iseed.status."+self+".>")
	bind("list every tenant's submission ids from the events stream", "ISEED_EVENTS")
	pub("forge a status event for "+v, "iseed.status."+v+"."+vid)
	pub("forge its own status event", "iseed.status."+self+".forged")
	pub("forge its own document event", "iseed.documents."+self+".forged")
	pub("forge an account event", "iseed.account.wallet")

	// Dead letters, tracking tasks, the ledger.
	bind("read the dead letters", "ISEED_DLQ")
	req("direct get a dead letter", "$JS.API.DIRECT.GET.ISEED_DLQ", `{"last_by_subj":"iseed.dlq.`+self+`.perm-`+self+`-bad"}`)
	pub("forge a dead letter", "iseed.dlq."+self+".forged")
	pub("forge a tracking task for "+v, "iseed.track."+v+"."+vid)
	pub("forge a ledger entry", "iseed.ledger."+self+".forged")
	bind("read the ledger", "ISEED_LEDGER")

	// iseed's KV buckets, read or written.
	for _, b := range []string{"iseed_submissions", "iseed_requests", "iseed_schemas", "iseed_isee_history", "iseed_keys",
		"iseed_ratelimit", "iseed_budgets", "iseed_budget_usage", "iseed_holds"} {
		api("read KV "+b, "$JS.API.STREAM.INFO.KV_"+b, func(ctx context.Context) error { _, err := tc.js.KeyValue(ctx, b); return err })
	}
	req("direct get "+v+"'s record", "$JS.API.DIRECT.GET.KV_iseed_submissions.$KV.iseed_submissions."+v+"."+vid, "")
	pub("raise its own spending cap", "$KV.iseed_budgets."+self)
	pub("release a held submission", "$KV.iseed_holds."+self)

	// Documents: its own bucket, read only; no other.
	api("bind "+v+"'s documents bucket", "$JS.API.STREAM.INFO.OBJ_"+victim.Bucket, func(ctx context.Context) error {
		_, err := tc.js.ObjectStore(ctx, victim.Bucket)
		return err
	})
	req("read "+v+"'s document info", "$JS.API.DIRECT.GET.OBJ_"+victim.Bucket+"."+meta(victim.Bucket, victim.Object), "")
	consume("read "+v+"'s document with a consumer", "OBJ_"+victim.Bucket, self+"-spy", "")
	req("direct get "+v+"'s documents by sequence", "$JS.API.DIRECT.GET.OBJ_"+victim.Bucket, `{"seq":1}`)
	bind("read the shared bucket of older documents", "OBJ_iseed_documents")
	own := "iseed_documents_" + self
	pub("plant an object in its own documents bucket", meta(own, self+"/planted"))
	req("purge its own documents bucket", "$JS.API.STREAM.PURGE.OBJ_"+own, "")
	consume("create a consumer on its own documents bucket", "OBJ_"+own, self+"-steal", "")

	// Files: its own bucket, written, never read back through a direct get
	// or a consumer (their answers go to a reply subject of its choice).
	pub("write to "+v+"'s files bucket", meta("iseed_files_"+v, "planted"))
	bind("bind "+v+"'s files bucket", "OBJ_iseed_files_"+v)
	forge := "$JS.API.DIRECT.GET.OBJ_iseed_files_" + self + "." + meta("iseed_files_"+self, "7781/cf.pdf")
	checks = append(checks, check{"turn its own file into a submission of " + v, "Publish", forge, false, func(context.Context) error {
		return tc.nc.PublishRequest(forge, "iseed.submissions."+v, nil)
	}})
	consume("read its own files bucket with a consumer", "OBJ_iseed_files_"+self, self+"-spy", "")

	// Inboxes and the account.
	sub("subscribe to "+v+"'s inbox", "_INBOX_"+v+".>")
	req("read the account's JetStream usage", "$JS.API.INFO", "")
	req("delete a stream", "$JS.API.STREAM.DELETE.ISEED_SUBMISSIONS", "")
	return checks
}

// denied runs the check and waits for the server's permissions violation
// naming its subject.
func (c *conn) denied(t *testing.T, ch check) {
	t.Helper()
	want := fmt.Sprintf("Permissions Violation for %s to %q", ch.op, ch.subject)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ch.do(ctx) }()
	for {
		select {
		case err := <-c.violations:
			if !strings.Contains(err.Error(), want) {
				continue // another request's, made before this check's
			}
			cancel()
			if err := <-done; ch.request && err == nil {
				t.Errorf("%s: the request succeeded", ch.name)
			}
			return
		case <-ctx.Done():
			<-done
			t.Fatalf("%s: no %q within 10s", ch.name, want)
		}
	}
}

// replySubjects: subject permissions do not cover reply subjects. A
// request a tenant may make, with a reply subject of its choice, makes the
// server send its answer there; in iseed's account a KV bucket listening
// on that subject would keep it (a spending cap, a record, a key
// replaced). The tenant's own account imports what it may reach, so the
// answer goes back to that account whatever it names. The tenant tries a
// publish (its acknowledgement) and a pull (its empty answer) aimed at
// every key of iseed's keys bucket and at one that does not exist, and
// direct gets of its own documents aimed at a key and at the victim's
// submissions subject (the raw stored message: a submission of the
// victim's, were it delivered in iseed's account); then
// requests that are answered after those, and a write of iseed's to the
// bucket, which the bucket stores after anything those answers put there.
func replySubjects(t *testing.T, tc *tenant, operator jetstream.JetStream, victim string) {
	ctx := context.Background()
	victimSubmissions := subjectCount(t, operator, "ISEED_SUBMISSIONS", "iseed.submissions."+victim)
	keys, err := operator.KeyValue(ctx, "iseed_keys")
	if err != nil {
		t.Fatal(err)
	}
	names, err := keys.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before := map[string]uint64{}
	for _, k := range names {
		e, err := keys.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		before[k] = e.Revision()
	}
	dup := tc.submission(t, "perm-"+tc.name+"-1", "cf.pdf|nats-os://iseed_files_"+tc.name+"/7781/cf.pdf", "mario.rossi@example.it")
	pull := "$JS.API.CONSUMER.MSG.NEXT.ISEED_EVENTS." + tc.name + "-status"
	for _, k := range append(names, "perm-absent") {
		m := nats.NewMsg(dup.Subject)
		m.Header, m.Data, m.Reply = dup.Header, dup.Data, "$KV.iseed_keys."+k
		if err := tc.nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		if err := tc.nc.PublishRequest(pull, "$KV.iseed_keys."+k, []byte(`{"batch":1,"no_wait":true}`)); err != nil {
			t.Fatal(err)
		}
	}
	if ack, err := tc.js.PublishMsg(ctx, dup); err != nil || !ack.Duplicate {
		t.Fatalf("the same submission again: %+v, %v; want a duplicate's acknowledgement", ack, err)
	}
	if _, err := tc.nc.Request(pull, []byte(`{"batch":1,"no_wait":true}`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Direct gets of its own documents, the one read of a stream it may
	// make, answered to a key and to the victim's submissions subject: the
	// answers are the stored messages, raw, and would be stored there were
	// they delivered in iseed's account.
	docs := "$JS.API.DIRECT.GET.OBJ_iseed_documents_" + tc.name
	for _, reply := range []string{"$KV.iseed_keys.perm-absent", "iseed.submissions." + victim} {
		if err := tc.nc.PublishRequest(docs, reply, []byte(`{"seq":1,"next_by_subj":"$O.iseed_documents_`+tc.name+`.>"}`)); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := tc.nc.Request(docs, []byte(`{"seq":1,"next_by_subj":"$O.iseed_documents_`+tc.name+`.>"}`), 5*time.Second); err != nil || m.Header.Get("Nats-Sequence") == "" {
		t.Fatalf("a direct get of its own documents: %v; want a stored message", err)
	}
	if _, err := keys.Put(ctx, "perm-sentinel", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for k, rev := range before {
		e, err := keys.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if e.Revision() != rev {
			t.Errorf("key %s: rewritten to %q; want revision %d, untouched", k, e.Value(), rev)
		}
	}
	if e, err := keys.Get(ctx, "perm-absent"); err == nil {
		t.Errorf("key perm-absent: written (%q); want none", e.Value())
	}
	if n := subjectCount(t, operator, "ISEED_SUBMISSIONS", "iseed.submissions."+victim); n != victimSubmissions {
		t.Errorf("messages on iseed.submissions.%s: %d, want %d, the victim's own", victim, n, victimSubmissions)
	}
}
