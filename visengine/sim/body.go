package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// maxBody bounds a request body: files travel inline as base64.
const maxBody = 64 << 20

// decodeBody decodes a JSON body into v; an empty body leaves v untouched.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) *apiError {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return &apiError{http.StatusBadRequest, codeBadBody, "invalid JSON body: " + err.Error()}
	}
	return nil
}

// looseString reads a JSON scalar the way a PHP API would: strings as is,
// numbers as written, true as "1", false and null as absent.
func looseString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		if x {
			return "1", true
		}
		return "", false
	}
	return fmt.Sprint(v), true
}

// looseBool reads true, 1, "1" and "true" as true.
func looseBool(v any) bool {
	s, _ := looseString(v)
	return s == "1" || strings.EqualFold(s, "true")
}

// parseValues reads json_visura: an object of "$N" keys, or (leniently) a JSON
// string holding one. Keys that are not "$N" are ignored.
func parseValues(raw json.RawMessage) (map[int]string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		raw = []byte(s)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false
	}
	vals := make(map[int]string, len(m))
	for k, v := range m {
		if i, ok := fieldIndex(k); ok {
			if sv, ok := looseString(v); ok {
				vals[i] = sv
			} else {
				vals[i] = ""
			}
		}
	}
	return vals, true
}

// fieldIndex parses "$N".
func fieldIndex(k string) (int, bool) {
	if len(k) < 2 || k[0] != '$' {
		return 0, false
	}
	n, err := strconv.Atoi(k[1:])
	return n, err == nil && n >= 0
}

// validEmail is a plain syntactic check of an e-mail address.
func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	if !ok || local == "" || len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>(),;:\"[]\\") {
		return false
	}
	if strings.Contains(domain, "@") || !strings.Contains(domain, ".") {
		return false
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" {
			return false
		}
	}
	return true
}

// callbackTarget is where and how a request's callbacks go.
type callbackTarget struct {
	url   string
	json  bool   // method "JSON"; otherwise a form POST
	field string // the body field holding the request
}

// parseCallback reads callback_data: absent, null or false means none;
// otherwise an object with an absolute http(s) url. It returns the object as
// sent (compacted), to be echoed back.
func parseCallback(raw json.RawMessage) (json.RawMessage, *callbackTarget, *apiError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "false" {
		return nil, nil, nil
	}
	bad := func(msg string) *apiError {
		return &apiError{http.StatusBadRequest, codeBadBody, "callback_data: " + msg}
	}
	var cb struct {
		URL    string `json:"url"`
		Method string `json:"method"`
		Field  string `json:"field"`
	}
	if raw[0] != '{' || json.Unmarshal(raw, &cb) != nil {
		return nil, nil, bad("must be an object")
	}
	u, err := url.Parse(cb.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, bad("url must be an absolute http(s) URL")
	}
	t := &callbackTarget{url: cb.URL, field: cb.Field}
	switch strings.ToUpper(cb.Method) {
	case "", "POST":
	case "JSON":
		t.json = true
	default:
		return nil, nil, bad(`method must be "JSON" or "POST"`)
	}
	if t.field == "" {
		t.field = "data"
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, raw) // raw was just decoded
	return compact.Bytes(), t, nil
}
