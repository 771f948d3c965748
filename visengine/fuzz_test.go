package visengine

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addSeeds adds the answers in testdata and a few hand-made ones.
func addSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	published, _ := filepath.Glob(filepath.Join("testdata", "published", "*.json"))
	files = append(files, published...)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"data":null}`, `{"success":false,"error":203,"message":"x"}`,
		`{"message":"{\"a\":\"b\"}","success":"0","error":"211"}`,
		`{"data":{"file":"QUJD\/\u0041A==","nome":"a"},"success":true}`,
		`{"data":{"file":"\ud83d\ude00"}}`, `{"data":{"file":"QUJD` + "\r\n" + `"}}`,
		`{"data":[1,{"a":"}]"},true,null,-1.5e3]}`, `{"data":"\\\"}"}`, `{"data" : 12 , "success" : 1}`,
	} {
		f.Add([]byte(s))
	}
}

// topLevel decodes body as encoding/json does, or reports false.
func topLevel(body []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}

// refEnvelope is what the envelope should decode to, by encoding/json; false
// when the body is not a JSON object or success/error are not decodable.
func refEnvelope(body []byte) (map[string]json.RawMessage, envelope, bool) {
	m, ok := topLevel(body)
	if !ok {
		return nil, envelope{}, false
	}
	var env envelope
	if raw, ok := m["success"]; ok {
		var b Bool
		if b.UnmarshalJSON(raw) != nil {
			return nil, envelope{}, false
		}
		v := bool(b)
		env.success = &v
	}
	if raw, ok := m["error"]; ok {
		var n Int
		if n.UnmarshalJSON(raw) != nil {
			return nil, envelope{}, false
		}
		env.code = int(n)
	}
	env.message = renderMessage(m["message"])
	return m, env, true
}

func FuzzDecodeEnvelope(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var out any
		ans := &jsonAnswer{out: &out, max: 1 << 20}
		env, err := decodeEnvelope(bytes.NewReader(body), 7, DefaultMaxPreambleBytes, ans) // must not panic
		m, want, ok := refEnvelope(body)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("got %v for valid JSON %q", err, body)
		}
		if env.ok() != want.ok() || env.code != want.code || env.message != want.message {
			t.Fatalf("got %+v, want %+v for %q", env, want, body)
		}
		if !bytes.Equal(ans.raw, m["data"]) {
			t.Fatalf("got data %q, want %q", ans.raw, m["data"])
		}
	})
}

// refDocument is the file that body holds, by encoding/json; false when the
// body is not a successful document answer with exactly one "data" and "file".
func refDocument(body []byte) ([]byte, bool) {
	m, env, ok := refEnvelope(body)
	if !ok || !env.ok() || countKeys(body, "data") != 1 {
		return nil, false
	}
	data, ok := topLevel(m["data"])
	if !ok || countKeys(m["data"], "file") != 1 {
		return nil, false
	}
	var n Int
	if raw, ok := data["dimensione"]; ok && n.UnmarshalJSON(raw) != nil {
		return nil, false
	}
	var b64 string
	if json.Unmarshal(data["file"], &b64) != nil {
		return nil, false
	}
	file, err := base64.StdEncoding.DecodeString(b64)
	return file, err == nil
}

// countKeys counts the members of the JSON object obj named key.
func countKeys(obj []byte, key string) int {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		return -1
	}
	n := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return -1
		}
		if tok == key {
			n++
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return -1
		}
	}
	return n
}

func FuzzDocumento(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var buf bytes.Buffer
		d := &documentAnswer{w: &buf}
		_, err := decodeEnvelope(bytes.NewReader(body), 5, DefaultMaxPreambleBytes, d) // must not panic
		want, ok := refDocument(body)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("got %v for a valid document %q", err, body)
		}
		if !bytes.Equal(buf.Bytes(), want) || d.doc.Written != int64(len(want)) {
			t.Fatalf("got %q (%d written), want %q", buf.Bytes(), d.doc.Written, want)
		}
	})
}

// refInput is what encoding/json makes of the first search's json_ricerca
// in data: its string values, with inline files elided; false when data
// does not hold one unambiguously.
func refInput(data map[string]json.RawMessage) (map[string]string, bool) {
	var ricerche []map[string]json.RawMessage
	if json.Unmarshal(data["ricerche"], &ricerche) != nil || len(ricerche) == 0 || ricerche[0] == nil {
		return nil, false
	}
	var text string
	if json.Unmarshal(ricerche[0]["json_ricerca"], &text) != nil {
		return nil, false
	}
	var vals map[string]any
	if json.Unmarshal([]byte(text), &vals) != nil || vals == nil || countKeys([]byte(text), "") < 0 {
		return nil, false
	}
	out := make(map[string]string)
	for k, v := range vals {
		if s, ok := v.(string); ok {
			if i := strings.Index(s, fileMarker); i >= 0 && strings.Contains(s[:i], "|data:") {
				s = s[:i+len(fileMarker)]
			}
			out[k] = s
		}
	}
	return out, true
}

// FuzzRichiesta checks the streaming decoder of requests against
// encoding/json: the same _id, and every string value of json_ricerca
// either kept as encoding/json reads it (inline files elided) or marked cut.
func FuzzRichiesta(f *testing.F) {
	addSeeds(f)
	for _, s := range []string{
		`{"data":{"_id":"a","ricerche":[{"json_ricerca":"{\"$0\":\"x\",\"$1\":\"f|data:a/b;base64,QUJD\"}"}]},"success":true}`,
		`{"data":{"_id":{"$oid":"b"},"ricerche":{"0":{"json_ricerca":{"$0":"\u00e0\\\/"}}}}}`,
		`{"data":{"ricerche":[{"json_ricerca":"[]","json_mappato":[]}],"_id":" c ","nome":["x"]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a := newRichiestaAnswer(64, 1<<20, true)
		_, err := decodeEnvelope(bytes.NewReader(body), 7, DefaultMaxPreambleBytes, a) // must not panic
		m, _, ok := refEnvelope(body)
		if err != nil || !ok || countKeys(body, "data") != 1 {
			return
		}
		data, ok := topLevel(m["data"])
		if !ok {
			return
		}
		var id string
		if countKeys(m["data"], "_id") == 1 && json.Unmarshal(data["_id"], &id) == nil && len(id) < maxIDLen {
			if got := a.r.ID; got != strings.TrimSpace(id) {
				t.Fatalf("got _id %q, want %q", got, strings.TrimSpace(id))
			}
		}
		want, ok := refInput(data)
		if !ok || countKeys(m["data"], "ricerche") != 1 || len(a.r.Ricerche) == 0 {
			return
		}
		got := a.r.Ricerche[0]
		if got.Input == nil {
			return // unknown input (keys over 256 bytes, say) is always a safe answer
		}
		for k, v := range want {
			if g, kept := got.Input[k]; kept && g != v || !kept && !got.Cut[k] {
				t.Fatalf("json_ricerca[%q]: got %q (kept %v, cut %v), want %q", k, g, kept, got.Cut[k], v)
			}
		}
	})
}
