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

// read reads and parses a callback body in one of the Readers slots, or
// answers (and reports false). The body is the only thing an
// unauthenticated caller can make iseed hold, so it is read by few at once,
// briefly, and is dropped before anything else happens.
func (c *Callbacks) read(w http.ResponseWriter, r *http.Request) (callbackBody, bool) {
	if !c.takeReader(r) {
		// Unread: closing the connection spares reading the body to reuse it.
		w.Header().Set("Connection", "close")
		busy(w)
		return callbackBody{}, false
	}
	defer func() { <-c.readers }()
	c.reading.Add(1)
	defer c.reading.Add(-1)
	// Replaces the server's ReadTimeout for what is left of this request.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(c.cfg.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, c.cfg.MaxBody))
	if err != nil {
		status := readStatus(err)
		http.Error(w, http.StatusText(status), status)
		return callbackBody{}, false
	}
	return parseCallback(r.Header.Get("Content-Type"), body), true
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

// readStatus is the answer to a body that could not be read.
func readStatus(err error) int {
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// parseCallback finds the secret in a callback body: the request the
// upstream posts ({"data": <Richiesta>} as JSON, or a form field "data"
// holding it) echoes callback_data, whose data holds the secret. Empty
// fields when absent; the state is normalised.
func parseCallback(ctype string, body []byte) callbackBody {
	raw := body
	if strings.HasPrefix(ctype, "application/x-www-form-urlencoded") {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return callbackBody{}
		}
		raw = []byte(`{"data":` + v.Get("data") + `}`)
	}
	var cb struct {
		Data struct {
			Stato        string `json:"stato_richiesta"`
			CallbackData struct {
				Data struct {
					Secret string `json:"secret"`
				} `json:"data"`
			} `json:"callback_data"`
		} `json:"data"`
	}
	if json.Unmarshal(raw, &cb) != nil {
		return callbackBody{}
	}
	return callbackBody{secret: cb.Data.CallbackData.Data.Secret, stato: visengine.NormalizeState(cb.Data.Stato)}
}
