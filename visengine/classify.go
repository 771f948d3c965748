package visengine

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CodeNoRequests is the API's error code for "no request related to your
// account" (GET /richiesta, HTTP 404): the account has no request yet.
const CodeNoRequests = 203

// statusClass classifies an HTTP status that is not a success. A 5xx after
// a POST, PUT or DELETE is ambiguous: a gateway may have lost the answer of
// an upstream that committed the change.
func statusClass(method string, status int, document bool) Class {
	switch {
	case status == http.StatusRequestTimeout:
		return ClassRetryable
	case status == http.StatusTooManyRequests:
		return ClassThrottled
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		// A token expired or revoked: an operator fixes it, and nothing the
		// request carries is wrong. Retryable, so the breaker stops pulling
		// instead of dead-lettering every submission.
		return ClassRetryable
	case status == http.StatusPaymentRequired:
		return ClassInsufficientCredit
	case status == http.StatusNotFound:
		return ClassNotFound
	case status == http.StatusUnprocessableEntity && document:
		return ClassNotReady
	case status >= 500 && idempotent(method):
		return ClassRetryable
	case status >= 500:
		return ClassAmbiguous
	default: // other 4xx, and 1xx/3xx (redirects are not followed)
		return ClassPermanent
	}
}

// codeClass classifies an error code that came with a 2xx status and
// "success": false. The API answered, so nothing is ambiguous: a code the
// API documents takes the class of its documented status, any other code is
// permanent.
func codeClass(method string, code int, document bool) Class {
	status := documentedStatus(code)
	if status >= 500 {
		return ClassPermanent
	}
	return statusClass(method, status, document)
}

// documentedStatus is the HTTP status the OpenAPI description gives for an
// error code; 400 for unknown codes.
func documentedStatus(code int) int {
	switch code {
	case 211, 225, 237:
		return http.StatusPaymentRequired
	case 202, 203, 221, 228, 244:
		return http.StatusNotFound
	case 247:
		return http.StatusUnprocessableEntity
	case 222, 230:
		return http.StatusConflict
	case 229, 250:
		return http.StatusPreconditionFailed
	case 204, 224, 226, 233, 242:
		return http.StatusPreconditionRequired
	default: // 200, 201, 209, 219, 234, 239, 243 and unknown codes
		return http.StatusBadRequest
	}
}

// idempotent reports whether repeating the method cannot change anything
// upstream. Only GET is used that way here; PUT /richiesta/{id} with state 1
// submits (and charges) a draft, so it is not treated as idempotent.
func idempotent(method string) bool {
	return method == http.MethodGet || method == http.MethodHead
}

// retryAfter reads Retry-After on 429 and 503: delay-seconds or an HTTP date.
// A date is measured from the answer's Date header when present (so clock
// skew cancels out), else from now. It returns 0 when absent or past.
func retryAfter(status int, h http.Header, now time.Time) time.Duration {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return 0
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, maxRetryAfterSecs)) * time.Second
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	return max(at.Sub(now), 0)
}

// maxRetryAfterSecs keeps a silly Retry-After from overflowing a Duration.
const maxRetryAfterSecs = 1 << 32
