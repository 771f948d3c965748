package sim

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// The sim-chosen codes for answers the reference does not describe: the
// envelope's "error" equals the HTTP status.
const (
	codeUnauthorized = http.StatusUnauthorized
	codeBadBody      = http.StatusBadRequest
)

// apiError is one error answer: HTTP status, envelope code and message.
type apiError struct {
	status int
	code   int
	msg    string
}

// successBody wraps raw JSON data in a success envelope.
func successBody(data []byte) []byte {
	b := make([]byte, 0, len(data)+48)
	b = append(b, `{"data":`...)
	b = append(b, data...)
	return append(b, `,"success":true,"message":"","error":null}`...)
}

// writeBody writes a complete JSON answer.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away; nothing to do
}

// writeData encodes v as the data of a success envelope.
func writeData(w http.ResponseWriter, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(w, apiError{http.StatusInternalServerError, http.StatusInternalServerError, "sim: encode answer: " + err.Error()})
		return
	}
	writeBody(w, http.StatusOK, successBody(data))
}

// errorBody is the error envelope, in the examples' key order.
type errorBody struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Error   int    `json:"error"`
	Data    any    `json:"data"`
}

func writeError(w http.ResponseWriter, e apiError) {
	b, _ := json.Marshal(errorBody{Message: e.msg, Error: e.code}) // cannot fail
	writeBody(w, e.status, b)
}
