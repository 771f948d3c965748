package account

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
	// ClassRetryable: no answer (network, timeout, a cut body), 408 or
	// 5xx. Every call is a GET: safe to retry.
	ClassRetryable
	// ClassThrottled: 429; wait Error.RetryAfter (when set) before retrying.
	ClassThrottled
	// ClassPermanent: 401, 403 (credentials to fix), 404 (a wrong base
	// URL), other 4xx and 3xx, an answer that cannot be read, or
	// "success": false. Retrying will not help.
	ClassPermanent
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
	default:
		return fmt.Sprintf("Class(%d)", int(c))
	}
}

// Error is the one error type every call returns on failure. It never
// holds the API key or the account's e-mail: the server's message is
// scrubbed of both.
type Error struct {
	Op         string        // "GET /wallet", "GET /wallet/transactions"
	Status     int           // HTTP status; 0 when no answer arrived
	Code       int           // the envelope's "error" code; 0 when absent
	Message    string        // the envelope's message (scrubbed), or what went wrong
	Class      Class         // what the caller may do
	RetryAfter time.Duration // from Retry-After on 429 and 503; 0 when absent
	Err        error         // the underlying error (network, decode), if any
}

// Error implements error.
func (e *Error) Error() string {
	s := fmt.Sprintf("account: %s: %s", e.Op, e.Class)
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

// Retryable reports whether the same call may be made again (after
// RetryAfter when throttled).
func (e *Error) Retryable() bool { return e.Class == ClassRetryable || e.Class == ClassThrottled }

// ClassOf returns the class of err, or 0 when err is not (and wraps no) *Error.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return 0
}

// ErrMalformed is wrapped by errors for answers that cannot be decoded.
var ErrMalformed = errors.New("malformed answer")
