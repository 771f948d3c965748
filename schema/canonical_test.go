package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// fixtures returns the names of every schema fixture in testdata.
func fixtures(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(names) < 4 {
		t.Fatalf("fixtures: %v %v, want at least 4", names, err)
	}
	for i, n := range names {
		names[i] = filepath.Base(n)
	}
	return names
}

// TestCanonicalRoundTrip: every fixture parses, marshals and parses again
// to an equal Service that validates inputs identically, and the canonical
// form is stable (marshalling the copy gives the same bytes).
func TestCanonicalRoundTrip(t *testing.T) {
	for _, name := range fixtures(t) {
		s := loadService(t, name)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: Parse(canonical): %v\n%s", name, err, b)
		}
		if diff := serviceDiff(s, back); diff != "" {
			t.Errorf("%s: round trip changed the service: %s", name, diff)
		}
		again, err := json.Marshal(back)
		if err != nil || !bytes.Equal(again, b) {
			t.Errorf("%s: canonical form not stable:\ngot  %s\nwant %s", name, again, b)
		}
		var viaJSON Service
		if err := json.Unmarshal(b, &viaJSON); err != nil {
			t.Errorf("%s: json.Unmarshal into a Service: %v", name, err)
		} else if diff := serviceDiff(s, &viaJSON); diff != "" {
			t.Errorf("%s: json.Unmarshal: %s", name, diff)
		}
		for _, in := range probeInputs(s) {
			p1, err1 := s.Validate(in, Limits{MaxFileBytes: 64})
			p2, err2 := back.Validate(in, Limits{MaxFileBytes: 64})
			if !reflect.DeepEqual(err1, err2) || !samePrepared(p1, p2) {
				t.Errorf("%s: input %v: original %+v %v, round trip %+v %v", name, in.Fields, p1, err1, p2, err2)
			}
		}
	}
}

// serviceDiff names the first difference between two compiled services,
// the answer they came from (Raw) aside.
func serviceDiff(a, b *Service) string {
	x, y := *a, *b
	x.Raw, y.Raw = nil, nil
	switch {
	case !reflect.DeepEqual(x.Fields, y.Fields):
		return "fields differ"
	case !reflect.DeepEqual(x.Options, y.Options):
		return "options differ"
	case !reflect.DeepEqual(x.rule, y.rule):
		return "rules differ"
	case !reflect.DeepEqual(x.byName, y.byName):
		return "names differ"
	case !reflect.DeepEqual(x, y):
		return "service attributes differ"
	}
	return ""
}

func samePrepared(a, b *Prepared) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.service, y.service = nil, nil
	return reflect.DeepEqual(x, y)
}

// probeInputs builds inputs that exercise every field and option of s:
// nothing, every field with a valid value, every field with a bad one, and
// each field alone.
func probeInputs(s *Service) []Input {
	good, bad := map[string]any{}, map[string]any{}
	var opts []string
	for _, f := range s.Fields {
		good[f.Key], bad[f.Key] = probeValue(f.kind), "\x00"
	}
	for _, o := range s.Options {
		opts = append(opts, o.Type)
	}
	ins := []Input{{}, {Fields: good, Options: opts}, {Fields: bad, Options: []string{"nessuna"}}}
	for _, f := range s.Fields {
		ins = append(ins, Input{Fields: map[string]any{f.Label: good[f.Key]}})
	}
	return ins
}

func probeValue(k kind) string {
	switch k {
	case kindPersonalTaxCode, kindTaxCode:
		return "RSSMRA85T10A562S"
	case kindVATNumber:
		return "12345678903"
	case kindEmail:
		return "mario.rossi@example.it"
	case kindComune:
		return "h501"
	case kindProvincia:
		return "rm"
	case kindDate:
		return "2000-02-29"
	case kindFile:
		return inline("a.pdf", "application/pdf", []byte("%PDF-1.7"))
	}
	return "testo"
}

// TestCanonicalIsTheAPIShape: the canonical form decodes as the upstream's
// Visura with no key the API does not have, and matches the golden file.
func TestCanonicalIsTheAPIShape(t *testing.T) {
	for _, name := range fixtures(t) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf) // as iseed schemas show prints it
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(loadService(t, name)); err != nil {
			t.Fatal(err)
		}
		b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var v visengine.Visura
		if err := dec.Decode(&v); err != nil {
			t.Errorf("%s: the canonical form is not the API's Visura: %v", name, err)
		}
		golden := filepath.Join("testdata", "golden", strings.TrimSuffix(name, ".json")+".canonical.json")
		if *update {
			if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -run TestCanonicalIsTheAPIShape -update ./schema/)", err)
		}
		if got := append(b, '\n'); !bytes.Equal(got, want) {
			t.Errorf("%s: canonical form changed:\ngot  %s\nwant %s", name, got, want)
		}
	}
}

// TestParseSubmissionAsSchema: a submission event given where a schema
// belongs is named for what it is.
func TestParseSubmissionAsSchema(t *testing.T) {
	sub := `{"id":"emp-1","service":"ISEE","fields":{"$0":"Mario"}}`
	_, err := Parse([]byte(sub))
	var se *SchemaError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "this is a submission event") {
		t.Errorf("Parse(submission) = %v, want a *SchemaError saying it is a submission", err)
	}
}

// TestParseOldShowSummary: what iseed schemas show printed before it wrote
// the canonical form is refused with a message that says what to do.
func TestParseOldShowSummary(t *testing.T) {
	old := `{"hash":"6aa0789f5ba34684b2bc5ccf364f8929","name":"ISEE","category":"Patronato","price":12,"rule":"$0",
		"fields":[{"key":"$0","name":"Nome","type":"testo","optional":false}],"options":[]}`
	_, err := Parse([]byte(old))
	var se *SchemaError
	if !errors.As(err, &se) || se.Field != "json" || !strings.Contains(se.Msg, "iseed schemas show") {
		t.Errorf("Parse(old summary) = %v, want a *SchemaError saying to save the schema again", err)
	}
}
