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
	case status < 400 && !idempotent(method):
		// 1xx/3xx (redirects are not followed): the API documents neither,
		// and a gateway that redirects after forwarding a POST may have
		// let the request through. Only a 4xx says nothing was done.
		return ClassAmbiguous
	default: // other 4xx, and 1xx/3xx to a GET
		return ClassPermanent
	}
}

// codeClass classifies an error code that came with a 2xx status and
// "success": false. A code the API documents takes the class of its
// documented status. Any other (none, an unknown one, a server error's)
// is no refusal the API publishes: the status says the call went through,
// and a generic handler that caught a fault after the change was made
// answers just so. To a POST, PUT or DELETE it is ambiguous (a refusal
// would be replayed as a second POST that nothing reconciles); to a GET,
// permanent.
func codeClass(method string, code int, document bool) Class {
	status, text := documented(code)
	if text == "" && !idempotent(method) {
		return ClassAmbiguous
	}
	return statusClass(method, status, document)
}

// documented returns the HTTP status the OpenAPI description gives for an
// error code (400 for unknown codes) and iseed's description of it: the
// documented message without the part that echoes input ("no request
// matches this id", not "…: <id>"); "" for unknown codes.
func documented(code int) (int, string) {
	switch code {
	case 200:
		return http.StatusBadRequest, "wrong hash_visura"
	case 201, 219, 243:
		return http.StatusBadRequest, "invalid id"
	case 202, 228, 244:
		return http.StatusNotFound, "no request matches this id"
	case 203:
		return http.StatusNotFound, "no request related to the account"
	case 204:
		return http.StatusPreconditionRequired, "hash_visura required"
	case 209:
		return http.StatusBadRequest, "email_target is invalid"
	case 211, 225, 237:
		return http.StatusPaymentRequired, "insufficient credit in the wallet"
	case 221:
		return http.StatusNotFound, "the request is in state 0, not yet finalized"
	case 222:
		return http.StatusConflict, "the request does not allow a search"
	case 224:
		return http.StatusPreconditionRequired, "json_visura required"
	case 226, 242:
		return http.StatusPreconditionRequired, "id required"
	case 229:
		return http.StatusPreconditionFailed, "error in the input data"
	case 230:
		return http.StatusConflict, "the request has no results to choose from"
	case 233:
		return http.StatusPreconditionRequired, "indice not valid or required"
	case 234:
		return http.StatusBadRequest, "indice must be >= 0"
	case 239:
		return http.StatusBadRequest, "the request has already been closed"
	case 247:
		return http.StatusUnprocessableEntity, "document not yet available"
	case 250:
		return http.StatusPreconditionFailed, "insufficient data to validate the request"
	default:
		return http.StatusBadRequest, ""
	}
}

// describe is iseed's description of an error answer: the documented
// meaning of its code, else the status text.
func describe(status, code int) string {
	if _, text := documented(code); text != "" {
		return text
	}
	if success(status) {
		return "the API reported a failure"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return "HTTP " + strconv.Itoa(status)
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
