package sim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// rawCall makes an API call and returns its status, Content-Length and body
// as sent, without decoding anything.
func (h *harness) rawCall(method, path string, body any) (int, int64, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, h.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := h.client.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return resp.StatusCode, resp.ContentLength, raw
}

// TestPreambleFault: a BOM or a PHP notice comes before the JSON of the
// next calls, success or error, with a Content-Length that counts it.
func TestPreambleFault(t *testing.T) {
	tests := []struct {
		kind, want string
	}{
		{"", "<br />\n<b>Notice</b>:  Undefined index: foo in /var/www/api/Richiesta.php on line 12<br />\n{"},
		{sim.PreambleNotice, "<br />\n<b>Notice</b>:"},
		{sim.PreambleBOM, "\xef\xbb\xbf{"},
		{sim.PreambleBoth, "\xef\xbb\xbf<br />\n<b>Notice</b>:"},
	}
	for _, tt := range tests {
		h := newHarness(t, sim.Config{Faults: sim.Faults{Preamble: map[string]sim.PreambleFault{"*": {Kind: tt.kind, Next: 2}}}})
		for _, path := range []string{"/visure", "/richiesta/0123456789abcdef01234567"} {
			_, cl, raw := h.rawCall(http.MethodGet, path, nil)
			if !bytes.HasPrefix(raw, []byte(tt.want)) || cl != int64(len(raw)) {
				t.Errorf("kind %q, %s: got %q… (Content-Length %d for %d bytes), want it to start %q", tt.kind, path, raw[:min(len(raw), 40)], cl, len(raw), tt.want)
			}
			if !json.Valid(raw[bytes.IndexByte(raw, '{'):]) {
				t.Errorf("kind %q, %s: the JSON after the preamble is not valid", tt.kind, path)
			}
		}
		if _, _, raw := h.rawCall(http.MethodGet, "/visure", nil); raw[0] != '{' {
			t.Errorf("kind %q: the third call got %q…, want plain JSON (next 2)", tt.kind, raw[:10])
		}
	}
}

// TestObjectListsAndPHPScalars: the same answers, as a PHP backend may
// write them.
func TestObjectListsAndPHPScalars(t *testing.T) {
	c := newClock()
	h := newHarness(t, sim.Config{Now: c.Now, Step: time.Minute, Faults: sim.Faults{
		ObjectLists: map[string]sim.Knob{"*": {Rate: 1}},
		PHPScalars:  map[string]sim.Knob{"*": {Rate: 1}},
	}})
	created := h.ok(http.MethodPost, "/richiesta", iseeBody(map[string]any{"opzioni": map[string]bool{"opzione_0": true}}))
	id := decode[map[string]any](t, created)["_id"].(string)
	c.Advance(2 * time.Minute)
	polled := h.ok(http.MethodGet, "/richiesta/"+id, nil)
	list := h.ok(http.MethodGet, "/richiesta", nil)
	doc := h.ok(http.MethodGet, "/documento/"+id, nil)
	tests := []struct {
		name string
		raw  json.RawMessage
		want []string
	}{
		{"POST", created, []string{`"opzioni":{"0":{"tipo":"urgenza","prezzo":4,"nome":"opzione_0"}}`, `"ricerche":{"0":{"id_ricerca":"` + id + `_0"`,
			`"prezzo_visura":"12,00"`, `"prezzo_ricerca":"0,00"`, `"stato_richiesta":" in  erogazione "`, `"allegati":[]`}},
		{"GET", polled, []string{`"allegati":{"0":"` + id + `.pdf"}`, `"stato_richiesta":" visura  evasa "`}},
		{"GET /richiesta", list, []string{`"prezzo_visura":"12,00"`, `"stato_richiesta":" visura  evasa "`}},
		{"GET /documento", doc, []string{`"dimensione":"`}},
	}
	for _, tt := range tests {
		for _, w := range tt.want {
			if !bytes.Contains(tt.raw, []byte(w)) {
				t.Errorf("%s: got %s, want it to hold %s", tt.name, tt.raw, w)
			}
		}
	}
	var d struct {
		Dimensione string `json:"dimensione"`
		File       []byte `json:"file"`
	}
	if err := json.Unmarshal(doc, &d); err != nil || d.Dimensione != strconv.Itoa(len(d.File)) {
		t.Errorf("documento: got dimensione %q for %d bytes (%v), want the size as a string", d.Dimensione, len(d.File), err)
	}
}

// TestOversizeFault: padding in an extra key, streamed, inside "data" when
// it is an object; and inline files echoed at their size.
func TestOversizeFault(t *testing.T) {
	const pad = 3 << 20
	h := newHarness(t, sim.Config{Faults: sim.Faults{Oversize: map[string]sim.OversizeFault{
		"POST /richiesta":     {Pad: pad, Files: true, Next: 1},
		"GET /richiesta/{id}": {Pad: 10, Next: 1},
	}}})
	body := iseeBody(nil)
	body["json_visura"].(map[string]string)["$5"] = "ci.pdf|data:application/pdf;base64," + strings.Repeat("QUJD", 1000)
	status, cl, raw := h.rawCall(http.MethodPost, "/richiesta", body)
	if status != 200 || cl != int64(len(raw)) || len(raw) < pad || !bytes.HasPrefix(raw, []byte(`{"data":{"_padding":"AAAA`)) {
		t.Fatalf("POST: got %d, %d bytes (Content-Length %d) starting %q; want the padding first in data", status, len(raw), cl, raw[:min(len(raw), 30)])
	}
	var env struct {
		Data struct {
			ID       string `json:"_id"`
			Padding  string `json:"_padding"`
			Ricerche []struct {
				JSON    string            `json:"json_ricerca"`
				Mappato map[string]string `json:"json_mappato"`
			} `json:"ricerche"`
		} `json:"data"`
		Success bool `json:"success"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || !env.Success || len(env.Data.Padding) != pad || len(env.Data.Ricerche) != 1 {
		t.Fatalf("POST: got %v, success %v, padding %d, want valid JSON with %d bytes of padding", err, env.Success, len(env.Data.Padding), pad)
	}
	in := decode[map[string]string](t, []byte(env.Data.Ricerche[0].JSON))
	wantFile := "ci.pdf|data:application/pdf;base64," + strings.Repeat("A", 4000)
	if in["$5"] != wantFile || env.Data.Ricerche[0].Mappato["Copia documento d'identità *"] != wantFile {
		t.Errorf("POST: got $5 of %d bytes, want the file echoed at its size (%d)", len(in["$5"]), len(wantFile))
	}
	// The next answers are back to normal, and an error answer gets its
	// padding in the envelope.
	r := decode[richiesta](t, h.ok(http.MethodGet, "/richiesta/"+env.Data.ID, nil))
	if r.ID != env.Data.ID {
		t.Errorf("GET: got %+v", r)
	}
	h.sim.SetFaults(sim.Faults{Oversize: map[string]sim.OversizeFault{"*": {Pad: 5, Next: 1}}})
	if _, cl, raw := h.rawCall(http.MethodGet, "/richiesta/0123456789abcdef01234567", nil); !bytes.HasPrefix(raw, []byte(`{"_padding":"AAAAA","success":false`)) || cl != int64(len(raw)) {
		t.Errorf("error answer: got %s (Content-Length %d), want the padding first in the envelope", raw, cl)
	}
}

func TestShapeFaultsJSON(t *testing.T) {
	h := newHarness(t, sim.Config{})
	good := `{"late_commit":{"mode":"hang","delay":"10m","next":1},"preamble":{"*":{"kind":"bom","rate":0.5}},` +
		`"object_lists":{"GET /richiesta/{id}":{"next":3}},"php_scalars":{"*":{"rate":1}},"oversize":{"POST /richiesta":{"pad":100,"files":true,"next":2}},"reformat_echo":true}`
	if r := h.do(http.MethodPut, "/_sim/faults", good); r.status != 200 {
		t.Fatalf("PUT /_sim/faults: got %d %s", r.status, r.raw)
	}
	got := decode[sim.Faults](t, h.do(http.MethodGet, "/_sim/faults", nil).raw)
	if got.LateCommit != (sim.LateCommit{Mode: sim.ModeHang, Delay: 10 * time.Minute, Next: 1}) || got.Preamble["*"] != (sim.PreambleFault{Kind: sim.PreambleBOM, Rate: 0.5}) ||
		got.ObjectLists["GET /richiesta/{id}"].Next != 3 || got.PHPScalars["*"].Rate != 1 ||
		got.Oversize["POST /richiesta"] != (sim.OversizeFault{Pad: 100, Files: true, Next: 2}) || !got.ReformatEcho {
		t.Errorf("GET /_sim/faults: got %+v", got)
	}
	bad := []string{
		`{"late_commit":{"mode":"later","next":1}}`,
		`{"late_commit":{"delay":"25h","next":1}}`,
		`{"late_commit":{"delay":"-1s","next":1}}`,
		`{"late_commit":{"delay":"soon","next":1}}`,
		`{"late_commit":{"rate":2}}`,
		`{"preamble":{"*":{"kind":"html"}}}`,
		`{"preamble":{"GET /nope":{"next":1}}}`,
		`{"object_lists":{"*":{"next":-1}}}`,
		`{"php_scalars":{"*":{"rate":1.5}}}`,
		`{"oversize":{"*":{"next":1}}}`,
		`{"oversize":{"*":{"pad":-1,"next":1}}}`,
		`{"oversize":{"*":{"pad":2000000000,"next":1}}}`,
	}
	for _, b := range bad {
		if r := h.do(http.MethodPut, "/_sim/faults", b); r.status != 400 {
			t.Errorf("PUT /_sim/faults %s: got %d %s, want 400", b, r.status, r.raw)
		}
	}
}
