package tracking

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCallbackBody: any body, JSON or form, anyone may post to the
// callback endpoint is parsed without a panic, and the secret of a
// genuine callback (any text up to 256 bytes) is read back as it was sent,
// whichever of the two methods posted it.
func FuzzCallbackBody(f *testing.F) {
	for _, s := range []struct{ body, secret, stato string }{
		{callbackJSON("s3cr3t", "evasa"), "s3cr3t", "evasa"},
		{callbackForm("s3cr3t", "evasa"), "k\"\\/\u2028", "In Lavorazione"},
		{`{"data":1,"data":{"callback_data":{"data":{"secret":"x"}}}}`, "\u202e", ""},
		{`data=1,"data":{"callback_data":false}`, "é", "\x1b[2J"},
		{`{"data":{"callback_data":{"data":"{\"secret\":\"x\"}"}}}`, "", "evasa"},
		{`)]}',` + "\n" + `{"data":{}}`, "a", "b"},
	} {
		f.Add([]byte(s.body), s.secret, s.stato)
	}
	c := &Callbacks{cfg: CallbackConfig{MaxBody: 4 << 10}}
	parse := func(body string, form bool) (callbackBody, error) {
		r := httptest.NewRequest("POST", "/callbacks/acme/emp-1", strings.NewReader(body))
		return c.parse(httptest.NewRecorder(), r, form)
	}
	f.Fuzz(func(t *testing.T, body []byte, secret, stato string) {
		for _, form := range []bool{false, true} {
			if cb, err := parse(string(body), form); err == nil && !utf8.ValidString(cb.secret) {
				t.Fatalf("form %v: %q read the secret %q", form, body, cb.secret)
			}
		}
		if len(secret) > 256 || len(stato) > 256 || !utf8.ValidString(secret) || !utf8.ValidString(stato) {
			return
		}
		rq, _ := json.Marshal(map[string]any{"_id": "r1", "stato_richiesta": stato,
			"callback_data": map[string]any{"method": "JSON", "data": map[string]string{"secret": secret}}})
		for _, form := range []bool{false, true} {
			body := `{"data":` + string(rq) + `}`
			if form {
				body = "data=" + url.QueryEscape(string(rq))
			}
			cb, err := parse(body, form)
			if err != nil || cb.secret != secret {
				t.Fatalf("form %v: %q read the secret %q, %v; want %q", form, body, cb.secret, err, secret)
			}
		}
	})
}
