package tracking

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCallbackBody: any body, JSON or form, anyone may post to the
// callback endpoint is parsed without a panic, and the secret of a
// genuine callback (any text up to 256 bytes) is read back as it was sent,
// whichever of the two methods posted it, and whether its data is echoed
// as the object sent or as a string holding it.
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
		sent, _ := json.Marshal(map[string]string{"secret": secret})
		// data as sent, or echoed as a string holding it.
		for _, data := range []any{json.RawMessage(sent), string(sent)} {
			rq, _ := json.Marshal(map[string]any{"_id": "r1", "stato_richiesta": stato,
				"callback_data": map[string]any{"method": "JSON", "data": data}})
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
		}
	})
}

// TestCallbackSecretEchoedAsString: how the upstream echoes the data of
// callback_data is not documented. iseed sends it as an object
// ({"secret": S}); an upstream that keeps it as text may echo a string
// holding that object. Both are read, as JSON and as a form; a string
// that is not that object's text (the bare secret, another encoding, the
// object encoded twice, a wrong secret) is refused as any body without the
// secret is.
func TestCallbackSecretEchoedAsString(t *testing.T) {
	c, ref, srv := callbackServer(t, CallbackConfig{MaxBody: 4 << 10})
	const form = "application/x-www-form-urlencoded"
	// echo is the request a callback posts for submission id, its
	// callback_data's data being the JSON value data.
	echo := func(data any) string {
		rq, err := json.Marshal(map[string]any{"_id": "r1", "stato_richiesta": "Visura evasa",
			"callback_data": map[string]any{"url": "u", "method": "JSON", "field": "data", "data": data}})
		if err != nil {
			t.Fatal(err)
		}
		return string(rq)
	}
	asText := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	sent := func(id string) map[string]string { return map[string]string{"secret": c.Secret("acme", id)} }
	tests := []struct {
		name, id, ctype string
		data            any
		want            int
		outcome         string
	}{
		{"an object", "emp-1", "", sent("emp-1"), http.StatusOK, "refreshed"},
		{"a string holding the object", "emp-2", "", asText(sent("emp-2")), http.StatusOK, "refreshed"},
		{"a string holding the object, in a form", "emp-3", form, asText(sent("emp-3")), http.StatusOK, "refreshed"},
		{"a string holding the object, spaced", "emp-4", "", "\n { \"secret\" : \"" + c.Secret("acme", "emp-4") + "\" }\n", http.StatusOK, "refreshed"},
		{"a string holding another submission's secret", "emp-5", "", asText(sent("emp-1")), http.StatusForbidden, "forged"},
		{"the bare secret", "emp-5", "", c.Secret("acme", "emp-5"), http.StatusForbidden, "no_secret"},
		{"the object encoded twice", "emp-5", "", asText(asText(sent("emp-5"))), http.StatusForbidden, "no_secret"},
		{"the object's text and more", "emp-5", "", asText(sent("emp-5")) + `{"secret":"x"}`, http.StatusForbidden, "no_secret"},
		{"a form's encoding", "emp-5", "", "secret=" + c.Secret("acme", "emp-5"), http.StatusForbidden, "no_secret"},
		{"a secret that is not a string", "emp-5", "", `{"secret":["` + c.Secret("acme", "emp-5") + `"]}`, http.StatusForbidden, "no_secret"},
		{"a string holding an object without the secret", "emp-5", "", `{"url":"u"}`, http.StatusForbidden, "no_secret"},
	}
	want := map[string]float64{}
	var refreshes int32
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"data":` + echo(tt.data) + `}`
			if tt.ctype == form {
				body = "data=" + url.QueryEscape(echo(tt.data))
			}
			resp, err := http.Post(srv.URL+"/callbacks/acme/"+tt.id, cmp.Or(tt.ctype, "application/json"), strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.want == http.StatusOK {
				refreshes++
			}
			want[tt.outcome]++
			if got := resp.StatusCode; got != tt.want || ref.n.Load() != refreshes {
				t.Errorf("got %d after %d refreshes, want %d after %d", got, ref.n.Load(), tt.want, refreshes)
			}
			if got := counted(t, c); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("counted %v, want %v", got, want)
			}
		})
	}
}
