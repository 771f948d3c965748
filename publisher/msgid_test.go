package publisher_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/publisher"
)

// TestSubmissionMsgIDShowsNoSubmission: a submission's message id names
// its tenant and nothing another tenant could read it for: not the
// submission id (often an employee number), not the fingerprint (whose
// prefix would confirm a guessed payload). Other tenants read it back
// from the shared submissions stream (docs/security.md). It still tells
// tenants, ids and payloads apart, and is the same for the same three.
func TestSubmissionMsgIDShowsNoSubmission(t *testing.T) {
	fp := fingerprint("the payload")
	id := publisher.SubmissionMsgID("acme", "emp-7781-isee-2026", fp)
	digest, ok := strings.CutPrefix(id, "acme.")
	if !ok || len(digest) != 32 || strings.Trim(digest, "0123456789abcdef") != "" {
		t.Fatalf("SubmissionMsgID = %q; want acme. and 32 lower-case hex digits", id)
	}
	for _, part := range []string{"emp", "7781", "2026", fp[:8], fp[len(fp)-8:]} {
		if strings.Contains(id, part) {
			t.Errorf("SubmissionMsgID = %q shows %q", id, part)
		}
	}
	if again := publisher.SubmissionMsgID("acme", "emp-7781-isee-2026", fp); again != id {
		t.Errorf("SubmissionMsgID is %q, then %q: want the same id for the same submission", id, again)
	}
	for _, other := range []string{
		publisher.SubmissionMsgID("globex", "emp-7781-isee-2026", fp),
		publisher.SubmissionMsgID("acme", "emp-7782-isee-2026", fp),
		publisher.SubmissionMsgID("acme", "emp-7781-isee-2026", fingerprint("another payload")),
	} {
		if other == id {
			t.Errorf("another tenant, id or payload has the same message id %q", id)
		}
	}
	if got, want := publisher.LegacySubmissionMsgID("acme", "emp-7781-isee-2026", fp), "acme.emp-7781-isee-2026."+fp[:16]; got != want {
		t.Errorf("LegacySubmissionMsgID = %q, want %q", got, want)
	}
}

// TestRepublishMsgIDShowsNoSubmission: the id of iseed's own publication of
// a submission (a release, a replay, a cancel) is the submission's id, a
// dot and a digest that shows neither what it was nor the times and
// revisions it was made of, and differs with them.
func TestRepublishMsgIDShowsNoSubmission(t *testing.T) {
	fp := fingerprint("the payload")
	base := publisher.SubmissionMsgID("acme", "emp-7781-isee-2026", fp)
	release := publisher.RepublishMsgID("acme", "emp-7781-isee-2026", fp, "h1765065600123456789.7")
	tag, ok := strings.CutPrefix(release, base+".")
	if !ok || len(tag) != 16 || strings.Trim(tag, "0123456789abcdef") != "" {
		t.Fatalf("RepublishMsgID = %q; want %s. and 16 lower-case hex digits", release, base)
	}
	for _, part := range []string{"emp", "h17", "1765065600", "123456789"} {
		if strings.Contains(release, part) {
			t.Errorf("RepublishMsgID = %q shows %q", release, part)
		}
	}
	if next := publisher.RepublishMsgID("acme", "emp-7781-isee-2026", fp, "h1765065600123456789.8"); next == release {
		t.Errorf("the next revision's release has the same id %q", release)
	}
	if again := publisher.RepublishMsgID("acme", "emp-7781-isee-2026", fp, "h1765065600123456789.7"); again != release {
		t.Errorf("RepublishMsgID is %q, then %q: want one id for one publication", release, again)
	}
}

func fingerprint(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
