package visengine_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

// raw answers with a status, headers and a body as given.
func raw(status int, body string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func TestClassification(t *testing.T) {
	const (
		get  = "GET /visure"
		post = "POST /richiesta"
		put  = "PUT /richiesta/{id}"
		del  = "DELETE /richiesta/{id}"
		doc  = "GET /documento/{id}"
	)
	date := "Wed, 21 Oct 2026 07:28:00 GMT"
	dateLater := "Wed, 21 Oct 2026 07:29:30 GMT"
	tests := []struct {
		name       string
		op         string
		h          http.HandlerFunc
		class      visengine.Class
		status     int
		code       int
		retryAfter time.Duration
	}{
		{"5xx on GET", get, failWith(500, 500, "boom"), visengine.ClassRetryable, 500, 500, 0},
		{"503 on GET with Retry-After", "GET /richiesta/{id}", raw(503, "", "Retry-After", "7"), visengine.ClassRetryable, 503, 0, 7 * time.Second},
		{"5xx on POST", post, failWith(500, 0, "boom"), visengine.ClassAmbiguous, 500, 0, 0},
		{"gateway 502 HTML on POST", post, raw(502, "<html>Bad Gateway</html>", "Content-Type", "text/html"), visengine.ClassAmbiguous, 502, 0, 0},
		{"504 on PUT", put, raw(504, ""), visengine.ClassAmbiguous, 504, 0, 0},
		{"503 on DELETE keeps Retry-After", del, raw(503, "", "Retry-After", "7"), visengine.ClassAmbiguous, 503, 0, 7 * time.Second},
		{"408 on POST", post, raw(408, ""), visengine.ClassRetryable, 408, 0, 0},
		{"429 seconds", get, raw(429, `{"success":false,"error":429,"message":"slow down","data":null}`, "Retry-After", "3"), visengine.ClassThrottled, 429, 429, 3 * time.Second},
		{"429 HTTP date from Date", post, raw(429, "", "Retry-After", dateLater, "Date", date), visengine.ClassThrottled, 429, 0, 90 * time.Second},
		{"429 date in the past", get, raw(429, "", "Retry-After", date, "Date", dateLater), visengine.ClassThrottled, 429, 0, 0},
		{"429 unparsable Retry-After", get, raw(429, "", "Retry-After", "soon"), visengine.ClassThrottled, 429, 0, 0},
		{"429 without Retry-After", get, raw(429, ""), visengine.ClassThrottled, 429, 0, 0},
		{"Retry-After ignored on 500", get, raw(500, "", "Retry-After", "9"), visengine.ClassRetryable, 500, 0, 0},
		{"402/211", post, failWith(402, 211, "Insufficient Credit in Wallet: 182.03"), visengine.ClassInsufficientCredit, 402, 211, 0},
		{"422/247 on documento", doc, failWith(422, 247, "document not yet available"), visengine.ClassNotReady, 422, 247, 0},
		{"422 elsewhere", post, failWith(422, 0, "?"), visengine.ClassPermanent, 422, 0, 0},
		{"404/202", "GET /richiesta/{id}", failWith(404, 202, "no request matches this id: x"), visengine.ClassNotFound, 404, 202, 0},
		{"404/228 on PUT", put, failWith(404, 228, "no requests matches this id: x"), visengine.ClassNotFound, 404, 228, 0},
		{"404/244 on documento", doc, failWith(404, 244, "no requests matches this id: x"), visengine.ClassNotFound, 404, 244, 0},
		{"404 HTML on GET /richiesta is not the empty list", "GET /richiesta", raw(404, "<html>nope</html>"), visengine.ClassNotFound, 404, 0, 0},
		{"404 with another code on GET /richiesta", "GET /richiesta", failWith(404, 202, "?"), visengine.ClassNotFound, 404, 202, 0},
		{"400/200", "GET /visure/{hash}", failWith(400, 200, "wrong hash_visura"), visengine.ClassPermanent, 400, 200, 0},
		{"400/209", post, failWith(400, 209, "email is considered invalid!"), visengine.ClassPermanent, 400, 209, 0},
		{"401", get, raw(401, ""), visengine.ClassRetryable, 401, 0, 0},
		{"403", get, raw(403, `{"success":false,"message":"forbidden","error":403}`), visengine.ClassRetryable, 403, 403, 0},
		{"401 on POST (not written through)", post, raw(401, ""), visengine.ClassRetryable, 401, 0, 0},
		{"409", put, failWith(409, 222, "conflict"), visengine.ClassPermanent, 409, 222, 0},
		{"412/250", post, failWith(412, 250, "Insufficient data to validate the request: "), visengine.ClassPermanent, 412, 250, 0},
		{"428/204", post, failWith(428, 204, "hash_visura required"), visengine.ClassPermanent, 428, 204, 0},
		{"418", get, raw(418, ""), visengine.ClassPermanent, 418, 0, 0},
		// A POST answered with a redirect may have been forwarded: ambiguous.
		{"redirect to a POST is not followed", post, raw(302, "", "Location", "/elsewhere"), visengine.ClassAmbiguous, 302, 0, 0},
		{"303 to a POST is not followed", post, raw(303, "", "Location", "/elsewhere"), visengine.ClassAmbiguous, 303, 0, 0},
		{"redirect to a GET is not followed", get, raw(302, "", "Location", "/elsewhere"), visengine.ClassPermanent, 302, 0, 0},
		// The published failures carry "data": null; one naming a request
		// reports a failure beside a request that exists.
		{"2xx success:false naming a request", post, raw(200, `{"success":false,"error":250,"message":"x","data":{"_id":"5f22f722065afc42223c7131","stato_richiesta":"In erogazione"}}`), visengine.ClassAmbiguous, 200, 250, 0},
		{"412 naming a request", post, raw(412, `{"success":false,"error":250,"message":"x","data":{"_id":"5f22f722065afc42223c7131"}}`), visengine.ClassAmbiguous, 412, 250, 0},
		{"2xx success:false with data null", post, raw(200, `{"success":false,"error":250,"message":"x","data":null}`), visengine.ClassPermanent, 200, 250, 0},
		{"2xx success:false 211", post, failWith(200, 211, "Insufficient Credit in Wallet: 1"), visengine.ClassInsufficientCredit, 200, 211, 0},
		{"2xx success:false 247 on documento", doc, failWith(200, 247, "document not yet available"), visengine.ClassNotReady, 200, 247, 0},
		{"2xx success:false 202", "GET /richiesta/{id}", failWith(200, 202, "no request"), visengine.ClassNotFound, 200, 202, 0},
		{"2xx success:false 209", post, failWith(200, 209, "email is considered invalid!"), visengine.ClassPermanent, 200, 209, 0},
		{"2xx success:false unknown code", post, failWith(200, 999, "?"), visengine.ClassAmbiguous, 200, 999, 0},
		{"2xx success:false 5xx code", get, failWith(200, 500, "?"), visengine.ClassPermanent, 200, 500, 0},
		{"2xx success:false no code", post, failWith(200, 0, "?"), visengine.ClassAmbiguous, 200, 0, 0},
		{"2xx error code without success", get, raw(200, `{"error":"209","message":"x"}`), visengine.ClassPermanent, 200, 209, 0},
		{"2xx undecodable on GET", get, raw(200, "<html>"), visengine.ClassRetryable, 200, 0, 0},
		{"2xx undecodable on POST", post, raw(200, "<html>"), visengine.ClassAmbiguous, 200, 0, 0},
		{"2xx empty body on POST", post, raw(200, ""), visengine.ClassAmbiguous, 200, 0, 0},
		{"2xx data of the wrong shape on PUT", put, raw(200, `{"success":true,"data":[1]}`), visengine.ClassAmbiguous, 200, 0, 0},
		{"2xx data of the wrong shape on GET", "GET /richiesta/{id}", raw(200, `{"success":true,"data":[1]}`), visengine.ClassRetryable, 200, 0, 0},
		{"2xx truncated on GET", get, raw(200, `{"success":true,"data":[{"nome_visura":"x"`), visengine.ClassRetryable, 200, 0, 0},
		{"4xx with undecodable body", post, raw(412, "oops"), visengine.ClassPermanent, 412, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle("/", tt.h)
			mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
				t.Errorf("redirect followed to %s %s", r.Method, r.URL)
			})
			c := newClient(t, mux)
			err := invoke(context.Background(), c, tt.op)
			e := asError(t, err)
			if e.Class != tt.class || e.Status != tt.status || e.Code != tt.code || e.RetryAfter != tt.retryAfter {
				t.Errorf("got class %v status %d code %d retryAfter %v, want %v %d %d %v (err: %v)",
					e.Class, e.Status, e.Code, e.RetryAfter, tt.class, tt.status, tt.code, tt.retryAfter, err)
			}
			if e.Op != tt.op {
				t.Errorf("got Op %q, want %q", e.Op, tt.op)
			}
			if got := visengine.ClassOf(err); got != tt.class {
				t.Errorf("got ClassOf %v, want %v", got, tt.class)
			}
		})
	}
}

func TestEveryOpClassifiesByStatus(t *testing.T) {
	tests := []struct {
		status     int
		get, write visengine.Class // for GETs; for POST, PUT, DELETE
	}{
		{500, visengine.ClassRetryable, visengine.ClassAmbiguous},
		{502, visengine.ClassRetryable, visengine.ClassAmbiguous},
		{400, visengine.ClassPermanent, visengine.ClassPermanent},
		{402, visengine.ClassInsufficientCredit, visengine.ClassInsufficientCredit},
		{404, visengine.ClassNotFound, visengine.ClassNotFound},
		{408, visengine.ClassRetryable, visengine.ClassRetryable},
		{429, visengine.ClassThrottled, visengine.ClassThrottled},
	}
	for _, tt := range tests {
		c := newClient(t, failWith(tt.status, 1, "x"))
		for _, op := range allOps() {
			want := tt.get
			if !strings.HasPrefix(op, "GET ") {
				want = tt.write
			}
			if got := visengine.ClassOf(invoke(context.Background(), c, op)); got != want {
				t.Errorf("%s on %d: got %v, want %v", op, tt.status, got, want)
			}
		}
	}
}

func TestRichiesteEmptyList(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
	}{
		{"404/203", failWith(404, 203, "no request related to your account")},
		{"200 success:false 203", failWith(200, 203, "no request related to your account")},
		{"200 data []", raw(200, `{"success":true,"data":[],"message":"","error":null}`)},
		{"200 data {}", raw(200, `{"success":true,"data":{},"message":"","error":null}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := newClient(t, tt.h).Richieste(context.Background())
			if err != nil || got == nil || len(got) != 0 {
				t.Errorf("got %v, %v; want an empty non-nil list and no error", got, err)
			}
		})
	}
}

// TestRichiesteWithoutData: the published empty list is 404/203 (or an
// empty list); a success without "data" says nothing about the account.
// Taken for an empty list, it would let reconciliation POST again.
func TestRichiesteWithoutData(t *testing.T) {
	for name, body := range map[string]string{
		"data null":    `{"success":true,"data":null,"message":"","error":null}`,
		"data absent":  `{"success":true}`,
		"empty object": `{}`,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := newClient(t, raw(200, body)).Richieste(context.Background())
			if e := asError(t, err); e.Class != visengine.ClassRetryable || got != nil {
				t.Errorf("got %v, %v; want no list and a retryable error", got, err)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"plain", `{"success":false,"error":209,"message":"email is considered invalid!"}`, "email is considered invalid!"},
		{"JSON object in a string", `{"success":false,"error":250,"message":"{\"$0\": \"campo obbligatorio\",\n \"$3\":\"formato\"}"}`, `{"$0":"campo obbligatorio","$3":"formato"}`},
		{"quoted string in a string", `{"success":false,"error":250,"message":"\"wrong hash_visura\""}`, "wrong hash_visura"},
		{"bare object", `{"success":false,"error":250,"message":{"campo": ["a", "b"]}}`, `{"campo":["a","b"]}`},
		{"number", `{"success":false,"error":250,"message":42}`, "42"},
		{"null", `{"success":false,"error":250,"message":null}`, ""},
		{"unicode escapes", `{"success":false,"error":250,"message":"citt\u00e0 non valida"}`, "città non valida"},
		{"control characters become spaces", `{"success":false,"error":250,"message":"riga uno\nriga\tdue\r"}`, "riga uno riga due"},
		{"broken JSON in a string kept", `{"success":false,"error":250,"message":"{not json"}`, "{not json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := invoke(context.Background(), newClient(t, raw(412, tt.body)), "POST /richiesta")
			e := asError(t, err)
			if got := e.UpstreamMessage(); got != tt.want {
				t.Errorf("got upstream message %q, want %q", got, tt.want)
			}
			if want := documentedText(e.Code); e.Message != want {
				t.Errorf("got message %q, want iseed's %q", e.Message, want)
			}
		})
	}
}

// documentedText is iseed's description of the codes these tests use.
func documentedText(code int) string {
	switch code {
	case 209:
		return "email_target is invalid"
	case 250:
		return "insufficient data to validate the request"
	}
	return ""
}

// The upstream's message may echo input (a tax code, a name): Error() must
// never carry it, whatever the path that built the *Error.
func TestErrorRedactsUpstreamMessage(t *testing.T) {
	const pd = "RSSMRA80A01H501U Mario Rossi"
	msg := `"message":"error in the input data: ` + pd + `"`
	tests := []struct {
		name string
		op   string
		h    http.HandlerFunc
		want string // iseed's Message
	}{
		{"documented code", "POST /richiesta", raw(412, `{"success":false,"error":229,`+msg+`}`), "error in the input data"},
		{"unknown code", "POST /richiesta", raw(400, `{"success":false,"error":999,`+msg+`}`), "Bad Request"},
		{"no code", "GET /visure", raw(418, `{"success":false,`+msg+`}`), "I'm a teapot"},
		{"2xx success:false", "PUT /richiesta/{id}", raw(200, `{"success":false,"error":999,`+msg+`}`), "the API reported a failure"},
		{"5xx", "POST /richiesta", raw(502, `{"success":false,`+msg+`}`), "Bad Gateway"},
		{"unreadable after the message", "POST /richiesta", raw(200, `{`+msg+`,"success":true,"data":{"state":`), "unreadable answer"},
		{"documento", "GET /documento/{id}", raw(404, `{"success":false,"error":244,`+msg+`}`), "no request matches this id"},
		{"too large", "GET /visure", raw(200, `{`+msg+`,"success":true,"data":["`+strings.Repeat("x", 2000)+`"]}`), "answer too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.h, func(cfg *visengine.Config) { cfg.MaxResponseBytes = 1024 })
			err := invoke(context.Background(), c, tt.op)
			e := asError(t, err)
			for _, s := range []string{"RSSMRA", "Mario", "Rossi"} {
				if strings.Contains(err.Error(), s) || strings.Contains(e.Message, s) {
					t.Errorf("got Error() %q, want no %q in it", err.Error(), s)
				}
			}
			if !strings.Contains(e.UpstreamMessage(), pd) {
				t.Errorf("got upstream message %q, want the API's", e.UpstreamMessage())
			}
			if e.Message != tt.want {
				t.Errorf("got message %q, want %q", e.Message, tt.want)
			}
		})
	}
}

func TestLongMessageIsCut(t *testing.T) {
	long := strings.Repeat("è", 5000)
	body := `{"success":false,"error":250,"message":"` + long + `"}`
	e := asError(t, invoke(context.Background(), newClient(t, raw(412, body)), "POST /richiesta"))
	m := e.UpstreamMessage()
	if len(m) > 2100 || !strings.HasSuffix(m, "…") || !strings.HasPrefix(m, "èèè") {
		t.Errorf("got a message of %d bytes ending %q, want it cut near 2 KiB with …", len(m), m[max(len(m)-8, 0):])
	}
}
