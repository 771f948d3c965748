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
// payload's fingerprint, which only the producer knows. A message without
// an id is accepted: it simply has no server-side deduplication.
func checkMsgID(msgID, tenant string, sub *Submission) error {
	if msgID == "" {
		return nil
	}
	want := publisher.SubmissionMsgID(tenant, sub.ID, sub.Fingerprint())
	if rest, ok := strings.CutPrefix(msgID, want); ok && (rest == "" || rest[0] == '.') {
		return nil
	}
	// The id sent is not quoted back: this error is logged and stored on
	// the dead letter, and a producer's own ids may be made of anything.
	return fmt.Errorf("%w: Nats-Msg-Id must be %q (tenant, id and the first 16 hex digits of the payload's fingerprint; see docs/events.md), optionally followed by a dot and more; got another id (%d bytes)",
		ErrMalformed, want, len(msgID))
}
