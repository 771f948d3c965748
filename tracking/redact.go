package tracking

import (
	"errors"
	"fmt"
	"strings"

	"github.com/iseed-dev/iseed/visengine"
)

// safeError describes an error for logs: an upstream error in it is
// reduced to its operation, class, status and code, because the upstream's
// message may echo input (personal data).
func safeError(err error) string {
	s := err.Error()
	var ve *visengine.Error
	if errors.As(err, &ve) {
		redacted := fmt.Sprintf("visengine %s: %s (HTTP %d, code %d)", ve.Op, ve.Class, ve.Status, ve.Code)
		if full := ve.Error(); strings.Contains(s, full) {
			return strings.Replace(s, full, redacted, 1)
		}
		return redacted
	}
	return s
}
