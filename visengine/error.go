package visengine

import (
	"errors"
	"fmt"
	"time"
)

// Class says what a caller may do about a failed call.
type Class int

// The classes of failure. The zero value is never returned.
const (
	_ Class = iota
	// ClassRetryable: no answer to a GET, or to a request not written whole;
	// 5xx to a GET; 408. Safe to retry.
	ClassRetryable
	// ClassThrottled: 429; wait Error.RetryAfter (when set) before retrying.
	ClassThrottled
	// ClassPermanent: 400, 409, 412, 428 and other 4xx; retrying will not help.
	ClassPermanent
	// ClassInsufficientCredit: 402; an operator must top up the wallet.
	ClassInsufficientCredit
	// ClassNotReady: 422 on /documento; the document is not available yet.
	ClassNotReady
	// ClassNotFound: 404; the resource does not exist (on GET /richiesta: no request yet).
	ClassNotFound
	// ClassAmbiguous: a POST, PUT or DELETE was written whole but no usable
	// answer came back (timeout, reset, cut or undecodable 2xx body), or it got
	// a 5xx, a 3xx, a failure naming a request, or a 2xx "success": false
	// without a documented code. The change may have been made (a POST may
	// have created and charged a request): reconcile before sending it again.
	ClassAmbiguous
)

// String returns the class's stable name, e.g. "retryable".
func (c Class) String() string {
	switch c {
	case ClassRetryable:
		return "retryable"
	case ClassThrottled:
		return "throttled"
	case ClassPermanent:
		return "permanent"
	case ClassInsufficientCredit:
		return "insufficient_credit"
	case ClassNotReady:
		return "not_ready"
	case ClassNotFound:
		return "not_found"
	case ClassAmbiguous:
		return "ambiguous"
	default:
		return fmt.Sprintf("Class(%d)", int(c))
	}
}

// Error is the one error type every call returns on failure.
//
// Its Error string is safe to log: it never carries the upstream's own
// message, which may echo what the request carried (tax codes, names). That
// text is kept apart, for UpstreamMessage.
type Error struct {
	Op         string        // e.g. "POST /richiesta"
	Status     int           // HTTP status; 0 when no response arrived
	Code       int           // the envelope's "error" code; 0 when absent
	Message    string        // iseed's own description of the failure ("no answer", "insufficient credit", …); never the upstream's text
	Class      Class         // what the caller may do
	RetryAfter time.Duration // from Retry-After on 429/503; 0 when absent
	Err        error         // the underlying error (network, decode), if any; it carries no response content

	upstream string // the envelope's "message" as the API wrote it (one line, cut at 2 KiB)
}

// UpstreamMessage returns the API's own message ("message" of the envelope,
// one line, cut at 2 KiB), or "" when there was none. It may echo request
// data (a tax code, a name): show it only where personal data may appear,
// never in logs.
func (e *Error) UpstreamMessage() string { return e.upstream }

// Error implements error. It names the call, the class, the HTTP status and
// API code, iseed's description and the underlying error; never the
// upstream's message.
func (e *Error) Error() string {
	s := fmt.Sprintf("visengine: %s: %s", e.Op, e.Class)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d", e.Status)
		if e.Code != 0 {
			s += fmt.Sprintf(", code %d", e.Code)
		}
		s += ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same call may simply be made again:
// retryable and throttled failures. Ambiguous ones need reconciliation first.
func (e *Error) Retryable() bool {
	return e.Class == ClassRetryable || e.Class == ClassThrottled
}

// ClassOf returns the class of err, or 0 when err is not (and wraps no) *Error.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return 0
}
