package main

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestShippedNATSMessageIDsShowNoSubmission: on the shipped configuration,
// a tenant that publishes on its own subject expecting another last
// message id (Nats-Expected-Last-Msg-Id) is refused with the id of the
// stream's last message, whichever tenant's it is: nothing is stored, and
// it may ask as often as it likes. The ids iseed asks producers for, and
// those of its own publications of a submission, show neither the
// submission's id nor its fingerprint (docs/security.md).
func TestShippedNATSMessageIDsShowNoSubmission(t *testing.T) {
	ctx := context.Background()
	url, pw := runShippedNATS(t)
	operator := connectAs(t, url, "iseed", pw["iseed"], "")
	if _, err := layout.Ensure(ctx, operator.js, layout.Layout{}); err != nil {
		t.Fatal(err)
	}
	acme := connectAs(t, url, "acme", pw["acme"], "")
	globex := connectAs(t, url, "globex", pw["globex"], "")

	payload := []byte(`{"id":"emp-7781-isee-2026","service":"ISEE","fields":{"$0":"RSSMRA85T10A562S"}}`)
	sub, err := consumer.DecodeSubmission(payload)
	if err != nil {
		t.Fatal(err)
	}
	fp := sub.Fingerprint()
	probe := func(what string) string {
		t.Helper()
		m := nats.NewMsg("iseed.submissions.acme")
		m.Data = []byte(`{}`)
		m.Header.Set("Nats-Expected-Last-Msg-Id", "probe")
		reply, err := acme.nc.RequestMsg(m, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		answer := string(reply.Data)
		// The probe reads globex's message id: the test is about what the
		// id shows, and would see nothing if the server stopped telling.
		if !strings.Contains(answer, "wrong last msg ID: globex.") {
			t.Fatalf("%s: acme's probe answered %s; want the stream's last message id, globex's", what, answer)
		}
		for _, secret := range []string{sub.ID, "7781", fp[:16], fp[:8]} {
			if strings.Contains(answer, secret) {
				t.Errorf("%s: acme's probe answered %s: it shows %q of globex's submission", what, answer, secret)
			}
		}
		return answer
	}

	if _, err := globex.js.Publish(ctx, "iseed.submissions.globex", payload,
		jetstream.WithMsgID(publisher.SubmissionMsgID("globex", sub.ID, fp))); err != nil {
		t.Fatal(err)
	}
	probe("globex's submission")
	// iseed publishes a held submission again on its tenant's subject
	// (consumer's releaseMsgID): the time it was held and the hold's
	// revision stay hidden too.
	held := time.Date(2026, 12, 7, 9, 30, 0, 123456789, time.UTC).UnixNano()
	if _, err := operator.js.Publish(ctx, "iseed.submissions.globex", payload,
		jetstream.WithMsgID(publisher.RepublishMsgID("globex", sub.ID, fp, "h"+strconv.FormatInt(held, 10)+".3"))); err != nil {
		t.Fatal(err)
	}
	if answer := probe("its release"); strings.Contains(answer, strconv.FormatInt(held, 10)[:10]) {
		t.Errorf("acme's probe answered %s: it shows when globex's submission was held", answer)
	}
	// And when globex last published: docs/security.md says what this
	// shows, and that only a stream per tenant would hide it.
	m := nats.NewMsg("iseed.submissions.acme")
	m.Data = []byte(`{}`)
	m.Header.Set("Nats-Expected-Last-Subject-Sequence", "999999")
	m.Header.Set("Nats-Expected-Last-Subject-Sequence-Subject", "iseed.submissions.globex")
	reply, err := acme.nc.RequestMsg(m, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(reply.Data), "wrong last sequence: 2") {
		t.Errorf("acme's probe of globex's subject answered %s; want globex's last sequence, 2, as docs/security.md says", reply.Data)
	}
	if n := subjectCount(t, operator.js, "ISEED_SUBMISSIONS", "iseed.submissions.acme"); n != 0 {
		t.Errorf("acme's probes stored %d messages; want none", n)
	}
}
