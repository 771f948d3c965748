package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go/jetstream"
)

// TestShippedNATSTenantCannotStallOthers: the JetStream API cannot narrow a
// consumer's deliver subject, and the server delivers a push consumer's
// messages to any subject subscribed in the consumer's account: in ISEED,
// the request subject ($JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>) of
// every pull consumer. Each message of a push consumer aimed there is a
// pull request, and the pull consumer hands its next message, any
// tenant's, to the push consumer's ack subject: with a few hundred of them
// iseed received no submission at all. So tenants create no consumer:
// iseed makes their event consumers, and they read documents with direct
// gets. acme tries the push consumer on its documents bucket and as its own
// event consumer, aimed at iseed's submitter and at globex's status
// consumer; iseed and globex still get their next message at once.
func TestShippedNATSTenantCannotStallOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	ctx := context.Background()
	url, pw := runShippedNATS(t)
	operator := connectAs(t, url, "iseed", pw["iseed"], "")
	res, err := layout.Ensure(ctx, operator.js, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	docs, err := layout.EnsureTenantDocuments(ctx, operator.js, res.Layout, "acme")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // each stored message would be a pull request
		if _, err := docs.PutBytes(ctx, "perm-acme-1/isee"+string(rune('a'+i))+".pdf", []byte("%PDF-1.4\n%%EOF\n")); err != nil {
			t.Fatal(err)
		}
	}
	for _, tenant := range []string{"acme", "globex"} {
		if _, err := publisher.EnsureTenantConsumers(ctx, operator.js, "ISEED_EVENTS", res.Layout.Events(), tenant); err != nil {
			t.Fatal(err)
		}
	}
	acme := connectAs(t, url, "acme", pw["acme"], "_INBOX_acme")
	globex := connectAs(t, url, "globex", pw["globex"], "_INBOX_globex") // the prefix the old grants needed
	globexStatus, err := globex.js.Consumer(ctx, "ISEED_EVENTS", "globex-status")
	if err != nil {
		t.Fatalf("globex binds the status consumer iseed made: %v", err)
	}

	for _, target := range []string{"$JS.API.CONSUMER.MSG.NEXT.ISEED_SUBMISSIONS.submitter", "$JS.API.CONSUMER.MSG.NEXT.ISEED_EVENTS.globex-status"} {
		pushInto(t, acme, "OBJ_iseed_documents_acme", "steal", "", target)
		pushInto(t, acme, "ISEED_EVENTS", "acme-status", "iseed.status.acme.>", target)
	}
	if _, err := operator.js.Publish(ctx, "iseed.status.acme.perm-acme-1", []byte(`{}`)); err != nil {
		t.Fatal(err) // a message for a push consumer on acme's events, had one been made
	}
	if _, err := globex.js.Publish(ctx, "iseed.submissions.globex", []byte(`{"id":"perm-globex-1"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := operator.js.Publish(ctx, "iseed.status.globex.perm-globex-1", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]jetstream.Consumer{"iseed's submitter": res.Consumer, "globex's status consumer": globexStatus} {
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var got int
		for m := range batch.Messages() {
			got++
			_ = m.Ack()
		}
		if got != 1 {
			info, _ := c.Info(ctx)
			t.Errorf("%s fetches its next message: got %d within 3s (delivered %d, ack pending %d); want 1",
				name, got, info.Delivered.Consumer, info.NumAckPending)
		}
	}
	for _, stream := range []string{"OBJ_iseed_documents_acme", "ISEED_EVENTS"} {
		st, err := operator.js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		list := st.ListConsumers(ctx)
		for info := range list.Info() {
			if info.Config.DeliverSubject != "" {
				t.Errorf("%s has a push consumer %s delivering to %s", stream, info.Name, info.Config.DeliverSubject)
			}
		}
		if err := list.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// pushInto asks, as tc, for a push consumer on stream delivering headers
// only to deliver (the filter, when set, in the API subject as a tenant's
// grants once named it). The server refuses the request (a permissions
// violation: no answer) or answers it; an answer that made the consumer is
// an error of the test.
func pushInto(t *testing.T, tc *conn, stream, name, filter, deliver string) {
	t.Helper()
	subject := "$JS.API.CONSUMER.CREATE." + stream + "." + name
	cfg := `"name":"` + name + `"`
	if filter != "" {
		subject += "." + filter
		cfg = `"durable_name":"` + name + `","filter_subject":"` + filter + `"`
	}
	m, err := tc.nc.Request(subject, []byte(`{"stream_name":"`+stream+`","config":{`+cfg+
		`,"deliver_subject":"`+deliver+`","ack_policy":"explicit","ack_wait":3600000000000,"headers_only":true}}`), time.Second)
	if err != nil {
		return // refused: nobody answers a request the permissions drop
	}
	var created struct {
		Error *jetstream.APIError `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &created); err != nil {
		t.Fatal(err)
	}
	if created.Error == nil {
		t.Errorf("acme's push consumer %s on %s delivering to %s: created", name, stream, deliver)
	}
}
