package visengine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync/atomic"
	"time"
)

// ErrResponseTooLarge is wrapped by the *Error of an answer longer than the
// configured MaxResponseBytes or MaxDocumentBytes.
var ErrResponseTooLarge = errors.New("visengine: answer exceeds the configured size limit")

// call describes one API call.
type call struct {
	method   string
	route    string // path template, e.g. "/richiesta/{id}"; with method it names the Op
	path     string // escaped path, e.g. "/richiesta/5f22f722065afc42223c7131"
	id       string // the id the path names, e.g. "5f22f722065afc42223c7131"; "" for none
	body     any    // encoded as JSON; nil for none
	document bool   // GET /documento/{id}: streamed, own timeout and limit
	list     bool   // GET /richiesta: the whole account, own limit
	streamed bool   // the answer bounds what it keeps itself: no limit on the body
}

func (k call) op() string { return k.method + " " + k.route }

// attempt tracks how far one exchange got, for the ambiguity rule.
type attempt struct {
	call
	wroteHeaders atomic.Bool // bytes of the request may have reached the server
	writeFailed  atomic.Bool // the request was cut short: the server cannot hold it whole
}

// sent reports whether the server may hold the complete request.
func (a *attempt) sent() bool { return a.wroteHeaders.Load() && !a.writeFailed.Load() }

func (a *attempt) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		WroteHeaders: func() { a.writeFailed.Store(false); a.wroteHeaders.Store(true) }, // per attempt
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err != nil {
				a.writeFailed.Store(true)
			}
		},
	}
}

// do makes one call: it sends the request, reads the envelope, hands "data"
// to ans and classifies any failure as an *Error.
func (c *Client) do(ctx context.Context, k call, ans answer) error {
	a := &attempt{call: k}
	timeout, limit := c.timeout, c.maxResp
	if k.document {
		timeout, limit = c.docTime, c.maxDoc
	}
	switch {
	case k.list:
		limit = c.maxList
	case k.streamed:
		limit = math.MaxInt64
	}
	// A process stopped past the timeout reads what came meanwhile: the
	// answer to a POST names the request it created.
	ctx, cancel := WithRunningTimeout(ctx, timeout)
	defer cancel()
	req, body, err := c.request(httptrace.WithClientTrace(ctx, a.trace()), k)
	if err != nil {
		return &Error{Op: k.op(), Class: ClassPermanent, Message: "building the request", Err: err}
	}
	resp, err := c.hc.Do(req)
	if body != nil {
		if werr := body.wait(); werr != nil {
			// The body was cut short: the upstream cannot hold the request.
			if resp != nil {
				resp.Body.Close()
			}
			return &Error{Op: k.op(), Class: ClassRetryable, Message: "writing the request body", Err: werr}
		}
	}
	if err != nil {
		return a.lost(ctx, err)
	}
	defer drainClose(resp.Body, cancel)
	if c.onWait != nil {
		if d := retryAfter(resp.StatusCode, resp.Header, c.now()); d > 0 {
			c.onWait(d)
		}
	}
	env, err := decodeEnvelope(&limitedReader{r: resp.Body, n: limit}, bufferSize(k, resp), c.maxPreamble, ans)
	if err != nil && success(resp.StatusCode) && env.ok() && salvaged(ans) {
		err = nil // what came before the failure names what the call changed
	}
	if err == nil && success(resp.StatusCode) && env.ok() {
		err = ans.complete()
	}
	if err != nil {
		return a.unreadable(ctx, resp, env, err, c.now(), ans)
	}
	return a.check(resp, env, c.now(), ans)
}

// salvager is an answer that can succeed with what it decoded before the
// answer failed.
type salvager interface {
	salvaged() bool
}

func salvaged(ans answer) bool {
	s, ok := ans.(salvager)
	return ok && s.salvaged()
}

// bufferSize sizes the read buffer: large for documents, else to fit the
// answer when its length is known.
func bufferSize(k call, resp *http.Response) int {
	switch {
	case k.document:
		return 32 << 10
	case resp.ContentLength > 0:
		return int(min(resp.ContentLength+1, 32<<10))
	default:
		return 4 << 10
	}
}

func (c *Client) request(ctx context.Context, k call) (*http.Request, *streamedBody, error) {
	var body io.Reader
	var streamed *streamedBody
	if cr, ok := k.body.(CreateRequest); ok && cr.WriteJSONVisura != nil {
		var err error
		if streamed, err = streamCreate(ctx, cr); err != nil {
			return nil, nil, err
		}
		body = streamed
	} else if k.body != nil {
		b, err := json.Marshal(k.body)
		if err != nil {
			return nil, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, c.base+k.path, body)
	if err != nil {
		if streamed != nil {
			streamed.wait()
		}
		return nil, nil, err
	}
	if streamed != nil {
		req.ContentLength = streamed.size // -1: chunked
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if !idempotent(k.method) {
		// net/http replays a request it can rewind after some failures
		// (HTTP/2 REFUSED_STREAM, GOAWAY, PROTOCOL_ERROR from the peer),
		// even after the body was written whole: never a POST.
		req.GetBody = nil
	}
	return req, streamed, nil
}

// lost classifies a call that got no answer: ambiguous when a POST, PUT or
// DELETE may have reached the server whole, else retryable.
func (a *attempt) lost(ctx context.Context, err error) *Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL adds nothing the Op does not say
	}
	e := &Error{Op: a.op(), Class: ClassRetryable, Message: "no answer", Err: withContext(ctx, err)}
	if !idempotent(a.method) && a.sent() {
		e.Class, e.Message = ClassAmbiguous, "request sent, no answer"
	}
	return e
}

// unreadable classifies an answer whose body could not be read or decoded.
// To a POST, PUT or DELETE, one that named a request before it broke off
// is ambiguous whatever its status, as check has it for a whole answer.
// Otherwise a failure status keeps its class. A 2xx to a POST, PUT or DELETE is
// ambiguous (the change was probably made); to a GET it is retryable, or
// permanent when the answer is over the size limit (it would be again).
func (a *attempt) unreadable(ctx context.Context, resp *http.Response, env envelope, err error, now time.Time, ans answer) *Error {
	e := &Error{
		Op:         a.op(),
		Status:     resp.StatusCode,
		Code:       env.code, // when it came before the failure
		Message:    "unreadable answer",
		RetryAfter: retryAfter(resp.StatusCode, resp.Header, now),
		Err:        withContext(ctx, err),
		upstream:   env.message,
	}
	var we writeError
	switch {
	case errors.As(err, &we):
		e.Message = "writing the document"
	case errors.Is(err, ErrResponseTooLarge):
		e.Message = "answer too large"
	case errors.Is(err, errOtherRequest):
		e.Message = "the answer is not about the request asked for"
	}
	switch {
	case !idempotent(a.method) && namesRequest(ans):
		// Broke off after naming a request: as check, a failure beside
		// a request that exists.
		e.Class = ClassAmbiguous
	case !success(resp.StatusCode):
		e.Class = statusClass(a.method, resp.StatusCode, a.document)
	case !idempotent(a.method):
		e.Class = ClassAmbiguous
	case errors.Is(err, ErrResponseTooLarge):
		e.Class = ClassPermanent
	default:
		e.Class = ClassRetryable
	}
	return e
}

// check classifies a decoded answer; nil when it is a success.
func (a *attempt) check(resp *http.Response, env envelope, now time.Time, ans answer) error {
	status := resp.StatusCode
	if success(status) && env.ok() {
		return nil
	}
	e := &Error{
		Op:         a.op(),
		Status:     status,
		Code:       env.code,
		Message:    describe(status, env.code),
		RetryAfter: retryAfter(status, resp.Header, now),
		upstream:   env.message,
	}
	if success(status) {
		e.Class = codeClass(a.method, env.code, a.document)
	} else {
		e.Class = statusClass(a.method, status, a.document)
	}
	if !idempotent(a.method) && namesRequest(ans) {
		// The published failures carry "data": null. One whose data names
		// a request reports a failure beside a request that exists (and,
		// for a POST, is charged): what happened is unknown.
		e.Class = ClassAmbiguous
		e.Message += ", beside a request it names"
	}
	return e
}

// namer is an answer that can tell whether it read a request's _id.
type namer interface {
	named() bool
}

func namesRequest(ans answer) bool {
	n, ok := ans.(namer)
	return ok && n.named()
}

func success(status int) bool { return status >= 200 && status < 300 }

// withContext makes sure a failure caused by the end of ctx matches
// context.Canceled or context.DeadlineExceeded with errors.Is.
func withContext(ctx context.Context, err error) error {
	cerr := ctx.Err()
	if cerr == nil || errors.Is(err, cerr) {
		return err
	}
	return fmt.Errorf("%w: %w", cerr, err)
}

// drainTimeout bounds drainClose, so that a server that stalls after a
// complete answer cannot delay the call.
const drainTimeout = 100 * time.Millisecond

// drainClose reads a little of what is left so that the connection can be
// reused, then closes the body; after drainTimeout it cancels the call's
// context instead, which closes the connection.
func drainClose(body io.ReadCloser, cancel context.CancelFunc) {
	t := time.AfterFunc(drainTimeout, cancel)
	defer t.Stop()
	_, _ = io.CopyN(io.Discard, body, 4<<10)
	_ = body.Close()
}

// limitedReader reads at most n bytes and fails with ErrResponseTooLarge
// when the input is longer.
type limitedReader struct {
	r io.Reader
	n int64
}

// Read implements io.Reader.
func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var probe [1]byte
		n, err := l.r.Read(probe[:])
		if n > 0 {
			return 0, ErrResponseTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// writeError wraps a failure of the caller's writer.
type writeError struct{ err error }

func (w writeError) Error() string { return w.err.Error() }
func (w writeError) Unwrap() error { return w.err }
