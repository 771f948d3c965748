package dlq

import (
	"strconv"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	const event = `{"id":"emp-1","service":"ISEE","options":["urgenza"],"version":1,` +
		`"fields":{"$0":"Mario","$4":"RSSMRA85T10A562S","$5":"ci.pdf|data:application/pdf;base64,JVBERi0xLjQK","n":3,"ok":true,"none":null},` +
		`"email_target":"hr@example.com","metadata":{"employee":"E-77","tags":["a","bb"]}}`
	tests := []struct {
		name    string
		payload string
		reveal  bool
		want    []string // substrings of the result
		never   []string // must not appear
	}{
		{"hidden", event, false,
			[]string{`"id":"emp-1"`, `"service":"ISEE"`, `"options":["urgenza"]`, `"version":1`, `"$0":"‹text, 5 chars›"`,
				`"$4":"‹text, 16 chars›"`, `"$5":"‹file application/pdf, 9 bytes›"`, `"n":"‹number›"`, `"ok":"‹bool›"`, `"none":null`,
				`"email_target":"‹text, 14 chars›"`, `"‹key 1, 8 chars›":"‹text, 4 chars›"`, `"‹key 2, 4 chars›":["‹text, 1 chars›","‹text, 2 chars›"]`},
			[]string{"Mario", "RSSMRA", "hr@example", "E-77", "employee", "JVBER", "ci.pdf"}},
		{"revealed: values, never file contents", event, true,
			[]string{`"$0":"Mario"`, `"$4":"RSSMRA85T10A562S"`, `"$5":"‹file ci.pdf, application/pdf, 9 bytes›"`, `"n":3`, `"ok":true`, `"employee":"E-77"`},
			[]string{"JVBER"}},
		{"a bare data URL", `{"fields":{"f":"data:image/png;base64,iVBORw=="}}`, false,
			[]string{`"f":"‹file image/png, 4 bytes›"`}, []string{"iVBOR"}},
		{"not JSON, hidden", `Mario Rossi RSSMRA85T10A562S`, false,
			[]string{`"‹28 bytes, not a JSON object›"`}, []string{"Mario"}},
		{"not JSON, revealed", `Mario`, true, []string{`"Mario"`}, nil},
		{"two values", `{"id":"a"} {"id":"b"}`, false, []string{"not a JSON object"}, []string{`"b"`}},
		{"an array", `["Mario"]`, false, []string{"not a JSON object"}, []string{"Mario"}},
		// The identity is shown only when it has its form: anything else
		// under its names is masked.
		{"id an object", `{"id":{"Codice Fiscale":"RSSMRA85T10A562S"},"fields":{}}`, false,
			[]string{`"id":{"‹key 1, 14 chars›":"‹text, 16 chars›"}`}, []string{"RSSMRA"}},
		{"service an object", `{"id":"a","service":{"Nome":"Mario"}}`, false,
			[]string{`"id":"a"`, `"service":{"‹key 1, 4 chars›":"‹text, 5 chars›"}`}, []string{"Mario"}},
		{"service an array", `{"service":["Mario"]}`, false, []string{`"service":["‹text, 5 chars›"]`}, []string{"Mario"}},
		{"options an object", `{"options":{"Nome":"Mario"}}`, false, []string{`"options":{"‹key 1, 4 chars›":"‹text, 5 chars›"}`}, []string{"Mario"}},
		{"options not all names", `{"options":["urgenza",{"Nome":"Mario"}]}`, false,
			[]string{`"options":["‹text, 7 chars›",{"‹key 1, 4 chars›":"‹text, 5 chars›"}]`}, []string{"Mario"}},
		{"options a string", `{"options":"Mario"}`, false, []string{`"options":"‹text, 5 chars›"`}, []string{"Mario"}},
		{"version not 1", `{"version":3337654321}`, false, []string{`"version":"‹number›"`}, []string{"3337654321"}},
		{"version an object", `{"version":{"Nome":"Mario"}}`, false, []string{`"version":{"‹key 1, 4 chars›":"‹text, 5 chars›"}`}, []string{"Mario"}},
		{"id an object, revealed", `{"id":{"Nome":"Mario"}}`, true, []string{`"id":{"Nome":"Mario"}`}, nil},
		// A file under the identity's names is a file: its contents are
		// never shown, revealed or not.
		{"a file as service", `{"id":"a","service":"data:application/pdf;base64,JVBERi0xLjQK"}`, false,
			[]string{`"service":"‹file application/pdf, 9 bytes›"`}, []string{"JVBER"}},
		{"a file as id, revealed", `{"id":"ci.pdf|data:application/pdf;base64,JVBERi0xLjQK"}`, true,
			[]string{`"id":"‹file ci.pdf, application/pdf, 9 bytes›"`}, []string{"JVBER"}},
		{"a file among options", `{"options":["urgenza","data:application/pdf;base64,JVBERi0xLjQK"]}`, true,
			[]string{`"urgenza"`, `application/pdf, 9 bytes›`}, []string{"JVBER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(Mask([]byte(tt.payload), tt.reveal))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("got %s, want %s in it", got, w)
				}
			}
			for _, n := range tt.never {
				if strings.Contains(got, n) {
					t.Errorf("got %s, want no %q in it", got, n)
				}
			}
		})
	}
}

// TestMaskRevealedNonObjectHidesFiles: a payload that is not exactly one
// JSON object (trailing data, an array: malformed letters have such) was
// revealed whole, inline files' contents included. The text is shown, the
// files' contents are not.
func TestMaskRevealedNonObjectHidesFiles(t *testing.T) {
	const secret = "RGlzdGluY3RpdmUgaWRlbnRpdHkgZG9jdW1lbnQ="
	for _, payload := range []string{
		`{"fields":{"Nome":"Mario","ci":"ci.pdf|data:application/pdf;base64,` + secret + `"}} {}`,
		`[{"fields":{"Nome":"Mario","ci":"data:application/pdf;name=x;base64,` + secret + `"}}]`,
		`{"fields":{"Nome":"Mario","ci":"data:image\/png;base64,` + secret[:8] + `\/` + secret[10:] + `"}`,
	} {
		got := string(Mask([]byte(payload), true))
		if strings.Contains(got, secret[:12]) || strings.Contains(got, secret[len(secret)-12:]) {
			t.Errorf("Mask(%.40q…, reveal): %s; want no file contents", payload, got)
		}
		if !strings.Contains(got, "Mario") || !strings.Contains(got, "bytes›") {
			t.Errorf("Mask(%.40q…, reveal): %s; want the text revealed and the file's size", payload, got)
		}
	}
}

// TestMaskHidesMetadataKeys: metadata is the producer's free-form object,
// and a key may name the person ("Mario Rossi": "E-77") as well as a value
// may. Hidden, metadata's keys were shown as they are; now they are masked
// like values, numbered so that the object keeps its shape. Revealed, they
// are shown.
func TestMaskHidesMetadataKeys(t *testing.T) {
	const payload = `{"id":"a","service":"ISEE","fields":{"Nome":"x"},` +
		`"metadata":{"Mario Rossi":"E-77","RSSMRA85T10A562S":{"Anna Rossi":1}}}`
	got := string(Mask([]byte(payload), false))
	for _, n := range []string{"Mario", "RSSMRA", "Anna"} {
		if strings.Contains(got, n) {
			t.Errorf("hidden: got %s, want no %q in it", got, n)
		}
	}
	for _, w := range []string{`"Nome":"‹text, 1 chars›"`, `"‹key 1, 11 chars›":"‹text, 4 chars›"`,
		`"‹key 2, 16 chars›":{"‹key 1, 10 chars›":"‹number›"}`} {
		if !strings.Contains(got, w) {
			t.Errorf("hidden: got %s, want %s in it", got, w)
		}
	}
	got = string(Mask([]byte(payload), true))
	if !strings.Contains(got, `"Mario Rossi":"E-77"`) || !strings.Contains(got, `"Anna Rossi":1`) {
		t.Errorf("revealed: got %s, want metadata's keys and values", got)
	}
}

// TestMaskHidesFreeFormKeysAndTypes: keys a producer chose freely (a
// top-level member that is not a submission's, the keys of an object given
// as a field's value) may name the person, as metadata's may: hidden, they
// are numbered. A field's own name stays (it says which field an
// unknown_field problem is about). So may an inline file's media type,
// which the producer writes: hidden, only a common document type is named.
func TestMaskHidesFreeFormKeysAndTypes(t *testing.T) {
	const payload = `{"id":"a","service":"ISEE","Mario Rossi":1,"fields":{"Nome":{"RSSMRA85T10A562S":"x"},` +
		`"Carta":"c.pdf|data:application/pdf;base64,AAAA","Foto":"f|data:image/anna-bianchi;base64,AAAA"}}`
	got := string(Mask([]byte(payload), false))
	for _, n := range []string{"Mario", "RSSMRA", "anna"} {
		if strings.Contains(got, n) {
			t.Errorf("hidden: got %s, want no %q in it", got, n)
		}
	}
	for _, w := range []string{`"Nome":{"‹key 1, 16 chars›":"‹text, 1 chars›"}`, `"‹key 1, 11 chars›":"‹number›"`,
		`"Carta":"‹file application/pdf, 3 bytes›"`, `"Foto":"‹file of another type, 3 bytes›"`} {
		if !strings.Contains(got, w) {
			t.Errorf("hidden: got %s, want %s in it", got, w)
		}
	}
	got = string(Mask([]byte(payload), true))
	for _, w := range []string{`"Mario Rossi":1`, `"RSSMRA85T10A562S":"x"`, "image/anna-bianchi"} {
		if !strings.Contains(got, w) {
			t.Errorf("revealed: got %s, want %s in it", got, w)
		}
	}
}

// TestMaskHidesMediaTypeParameters: a data URL's media type may carry
// parameters the producer writes, a file name among them
// ("data:application/pdf;name=Mario_Rossi.pdf;base64,…"). Hidden, a common
// document type was named with its parameters, file name included; now it
// is named by its type alone. Revealed, the parameters are shown.
func TestMaskHidesMediaTypeParameters(t *testing.T) {
	const payload = `{"id":"a","service":"ISEE","fields":{"Carta":"data:application/pdf;name=RSSMRA85T10A562S_Rossi.pdf;base64,AAAA",` +
		`"Foto":"f.jpg|data:IMAGE/JPEG ; charset=Anna-Bianchi;base64,AAAA"}}`
	got := string(Mask([]byte(payload), false))
	for _, n := range []string{"RSSMRA", "Rossi", "name=", "Anna", "charset"} {
		if strings.Contains(got, n) {
			t.Errorf("hidden: got %s, want no %q in it", got, n)
		}
	}
	for _, w := range []string{`"Carta":"‹file application/pdf, 3 bytes›"`, `"Foto":"‹file image/jpeg, 3 bytes›"`} {
		if !strings.Contains(got, w) {
			t.Errorf("hidden: got %s, want %s in it", got, w)
		}
	}
	got = string(Mask([]byte(payload), true))
	if !strings.Contains(got, "name=RSSMRA85T10A562S_Rossi.pdf") {
		t.Errorf("revealed: got %s, want the media type's parameters", got)
	}
}

// TestMaskBoundsDepth: a payload of 10 KB nested 5,000 levels deep was
// masked whole, and iseed dlq show printed it indented: some 50 MB. Hidden,
// a value nested deeper than MaxDepth is TooDeep, and what is shown stays
// about as deep as MaxDepth; revealed, it is shown whole.
func TestMaskBoundsDepth(t *testing.T) {
	if !strings.Contains(TooDeep, " "+strconv.Itoa(MaxDepth)+" ") {
		t.Errorf("TooDeep is %q, want it to name MaxDepth, %d", TooDeep, MaxDepth)
	}
	const depth = 5_000
	payload := `{"id":"a","fields":{"a":` + strings.Repeat("[", depth) + `"Mario"` + strings.Repeat("]", depth) + `},` +
		`"metadata":` + strings.Repeat(`{"Anna Rossi":`, depth) + "1" + strings.Repeat("}", depth) + "}"
	got := string(Mask([]byte(payload), false))
	if n := strings.Count(got, TooDeep); n != 2 {
		t.Errorf("hidden: got %d times %q, want 2 (one a field's, one metadata's)", n, TooDeep)
	}
	if n := strings.Count(got, "["); n != MaxDepth-1 {
		t.Errorf("hidden: got %d arrays shown, want %d (the field's value at depth 2)", n, MaxDepth-1)
	}
	for _, n := range []string{"Mario", "Anna"} {
		if strings.Contains(got, n) {
			t.Errorf("hidden: got %q in it, want it masked", n)
		}
	}
	got = string(Mask([]byte(payload), true))
	if strings.Contains(got, TooDeep) || !strings.Contains(got, strings.Repeat("[", depth)+`"Mario"`) {
		t.Errorf("revealed: got %.80q…, want the whole payload", got)
	}
}
