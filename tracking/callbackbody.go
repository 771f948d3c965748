package tracking

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

// callbackBody is what iseed reads in a callback body: the secret, and the
// state it announces, which is never trusted beyond telling one callback's
// news from another's.
type callbackBody struct {
	secret, stato string
}

// read reads and parses a callback body, or answers (and reports false).
// The body is the only thing an unauthenticated caller can make iseed
// hold, so it is read briefly and dropped before anything else happens. A
// JSON body (what iseed asks for) is streamed keeping a few KiB
// (visengine.CallbackMemory), about what its connection's headers may
// hold already, so it needs no reader slot and a sender that stalls holds
// nothing but its own connection; a form body is read whole, in one of
// the Readers slots.
func (c *Callbacks) read(w http.ResponseWriter, r *http.Request) (callbackBody, bool) {
	form := strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded")
	if form {
		if !c.takeReader(r) {
			// Unread: closing the connection spares reading the body to reuse it.
			w.Header().Set("Connection", "close")
			c.busy(w)
			return callbackBody{}, false
		}
		defer func() { <-c.readers }()
	}
	c.reading.Add(1)
	defer c.reading.Add(-1)
	// Replaces the server's ReadTimeout for what is left of this request.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(c.cfg.BodyTimeout))
	cb, err := c.parse(w, r, form)
	if err != nil {
		status, o := readStatus(err)
		c.cfg.Metrics.callback(o)
		http.Error(w, http.StatusText(status), status)
		return callbackBody{}, false
	}
	return cb, true
}

// parse reads the request a callback body holds: the body itself (method
// "JSON") streamed whatever its size, as the upstream may echo the input's
// scans of documents; or a form's field "data", the whole form within
// MaxBody. An error is one of reading the body; a body that is not a
// request has no secret.
func (c *Callbacks) parse(w http.ResponseWriter, r *http.Request, form bool) (callbackBody, error) {
	var body io.Reader = r.Body
	if form {
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.cfg.MaxBody))
		if err != nil {
			return callbackBody{}, err
		}
		v, err := url.ParseQuery(string(raw))
		if err != nil {
			return callbackBody{}, nil
		}
		body = strings.NewReader(`{"data":` + v.Get("data") + `}`)
	}
	rq, err := visengine.ReadCallback(body)
	var ne net.Error
	switch {
	case errors.As(err, &ne):
		return callbackBody{}, err
	case err != nil:
		return callbackBody{}, nil
	}
	return callbackOf(rq), nil
}

// takeReader takes a reader slot, waiting at most readerWait.
func (c *Callbacks) takeReader(r *http.Request) bool {
	select {
	case c.readers <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(readerWait)
	defer t.Stop()
	select {
	case c.readers <- struct{}{}:
		return true
	case <-t.C:
	case <-r.Context().Done():
	}
	return false
}

// readStatus is the answer to a body that could not be read, and its
// outcome.
func readStatus(err error) (int, callbackOutcome) {
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, cbTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusRequestTimeout, cbTooSlow
	}
	return http.StatusBadRequest, cbBadRequest
}

// callbackOf is what iseed reads of the request a callback posts: the
// callback_data it echoes holds the secret. Empty fields when absent; the
// state is normalised.
func callbackOf(rq *visengine.Richiesta) callbackBody {
	cb := callbackBody{stato: rq.StatoRichiesta}
	if rq.CallbackData.CallbackData != nil {
		cb.secret = echoedSecret(rq.CallbackData.CallbackData.EchoedData())
	}
	return cb
}

// echoedSecret reads the secret in the data of the callback_data a
// callback echoes, as visengine.CallbackData.EchoedData unwraps it: the
// object iseed sent ({"secret": S}), or a JSON string holding that
// object's text, as an upstream that keeps data as text may echo it (how
// it echoes data is not documented). Nothing else has a secret: not a
// string that is not such an object's text, nor one encoded twice. Either
// way the secret must then match exactly.
func echoedSecret(data json.RawMessage) string {
	var sent struct {
		Secret string `json:"secret"`
	}
	if json.Unmarshal(data, &sent) != nil {
		return ""
	}
	return sent.Secret
}
