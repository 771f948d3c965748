package consumer

import (
	"fmt"
	"strings"

	"github.com/iseed-dev/iseed/publisher"
)

// checkMsgID enforces the form of a submission's Nats-Msg-Id, when it has
// one: publisher.SubmissionMsgID(tenant, id, fingerprint), optionally
// followed by "." and anything. The submissions stream deduplicates by
// message id across all subjects, so an id that any other publisher could
// guess lets that publisher have this message dropped as a duplicate by
// publishing the id first. The required id names the tenant and the
// payload's fingerprint, which only the producer knows. The earlier form
// (publisher.LegacySubmissionMsgID) is accepted too: refusing it would not
// hide it, since the stream shows a message's id to other tenants when it
// stores it, before the pipeline reads it. A message without an id is
// accepted: it simply has no server-side deduplication.
func checkMsgID(msgID, tenant string, sub *Submission) error {
	if msgID == "" {
		return nil
	}
	fp := sub.Fingerprint()
	want := publisher.SubmissionMsgID(tenant, sub.ID, fp)
	for _, prefix := range []string{want, publisher.LegacySubmissionMsgID(tenant, sub.ID, fp)} {
		if rest, ok := strings.CutPrefix(msgID, prefix); ok && (rest == "" || rest[0] == '.') {
			return nil
		}
	}
	// The id sent is not quoted back: this error is logged and stored on
	// the dead letter, and a producer's own ids may be made of anything.
	return fmt.Errorf("%w: Nats-Msg-Id must be %q (the tenant and a digest of the id and the payload's fingerprint; see docs/events.md), optionally followed by a dot and more; got another id (%d bytes)",
		ErrMalformed, want, len(msgID))
}
