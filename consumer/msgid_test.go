package consumer

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// TestOwnPublicationsShowNoSubmission: the message ids of iseed's own
// publications of a submission on its tenant's subject (a held one
// released, a held one cancelled, an operator's replay) are the
// submission's id and a digest: other tenants read them back from the
// shared stream (publisher.SubmissionMsgID), and must learn from them
// neither the submission's id nor its fingerprint, nor when it was held or
// cancelled, nor the replay's token (with which they could publish the
// next id first).
func TestOwnPublicationsShowNoSubmission(t *testing.T) {
	payload := []byte(`{"id":"emp-7781-isee-2026","service":"ISEE","fields":{"$0":"RSSMRA85T10A562S"}}`)
	sub, err := DecodeSubmission(payload)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 9, 30, 0, 123456789, time.UTC)
	rec := &record.Record{Tenant: "globex", ID: sub.ID, Fingerprint: sub.Fingerprint(), HeldSince: at, CancelRequested: at.Add(time.Minute)}
	const token = "3f9a1c7e5b2d4068"
	base := publisher.SubmissionMsgID("globex", sub.ID, sub.Fingerprint()) + "."
	for what, id := range map[string]string{
		"release":        releaseMsgID(rec, 3),
		"release, again": releaseMsgID(rec, 4),
		"cancel":         cancelMsgID(rec),
		"replay":         ReplayMsgID(layout.Layout{Prefix: "iseed"})("iseed.submissions.globex", payload, token),
	} {
		if !strings.HasPrefix(id, base) {
			t.Errorf("%s: message id %q; want %s and more", what, id, base)
		}
		for _, secret := range []string{sub.ID, sub.Fingerprint()[:8], strconv.FormatInt(at.UnixNano(), 10)[:10], token[:8]} {
			if strings.Contains(id, secret) {
				t.Errorf("%s: message id %q shows %q", what, id, secret)
			}
		}
		if err := checkMsgID(id, "globex", sub); err != nil {
			t.Errorf("%s: the pipeline refuses its message id %q: %v", what, id, err)
		}
	}
	if releaseMsgID(rec, 3) == releaseMsgID(rec, 4) {
		t.Error("two revisions of a hold released under one message id: the second would be dropped as a duplicate")
	}
}
