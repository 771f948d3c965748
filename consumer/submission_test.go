package consumer

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeSubmission(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"minimal", `{"id":"a-1","service":"ISEE","fields":{}}`, true},
		{"full", `{"version":1,"id":"emp_7781","service":"ISEE","fields":{"$0":"x"},"options":["urgenza"],"email_target":"a@b.it","metadata":{"k":"v"}}`, true},
		{"not json", `{"id":`, false},
		{"array", `[]`, false},
		{"unknown key", `{"id":"a","service":"ISEE","fields":{},"extra":1}`, false},
		{"trailing data", `{"id":"a","service":"ISEE","fields":{}} {}`, false},
		{"bad id chars", `{"id":"a.b","service":"ISEE","fields":{}}`, false},
		{"id too long", `{"id":"` + strings.Repeat("x", 65) + `","service":"ISEE","fields":{}}`, false},
		{"no id", `{"service":"ISEE","fields":{}}`, false},
		{"no service", `{"id":"a","service":"  ","fields":{}}`, false},
		{"no fields", `{"id":"a","service":"ISEE"}`, false},
		{"metadata not object", `{"id":"a","service":"ISEE","fields":{},"metadata":[1]}`, false},
		{"future version", `{"version":2,"id":"a","service":"ISEE","fields":{}}`, false},
		{"hostile id", `{"id":"a\u0000b","service":"ISEE","fields":{}}`, false},
		{"metadata null: as if absent", `{"id":"a","service":"ISEE","fields":{},"metadata":null}`, true},
		{"invalid UTF-8 in a value", "{\"id\":\"a\",\"service\":\"ISEE\",\"fields\":{\"$0\":\"Ma\xff\xferio\"}}", false},
		{"empty", " \n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeSubmission([]byte(tt.in))
			if got := err == nil; got != tt.ok {
				t.Fatalf("DecodeSubmission(%s): got err %v, want ok=%v", tt.in, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

// TestDecodeProblemsQuoteNothing: what DecodeSubmission says of a bad
// event is logged, so it names members and JSON kinds, never a member's
// name or value from the message, and stays short whatever comes in.
func TestDecodeProblemsQuoteNothing(t *testing.T) {
	t.Parallel()
	const secret = "RSSMRA85T10A562S"
	tests := []struct{ name, in, want string }{
		{"unknown member", `{"id":"a","service":"ISEE","fields":{},"` + secret + `":"x"}`, "a member that is not part of a submission"},
		{"a huge unknown member", `{"id":"a","service":"ISEE","fields":{},"` + secret + strings.Repeat("x", 1<<20) + `":1}`, "a member that is not part of a submission"},
		{"wrong type", `{"id":"a","service":"ISEE","fields":"` + secret + `"}`, "fields: a JSON string where an object is expected"},
		{"array", `["` + secret + `"]`, "a submission is a JSON object"},
		{"empty", ``, "the message is empty"},
		{"broken", `{"id":"a","service":"` + secret + `",`, "the JSON ends before the object does"},
		{"syntax", `{"id":"a","service":"ISEE","fields":{}}x` + secret, "trailing data"},
		{"bad byte", `{"id":"a","service":"ISEE","fields":{"$0":"` + secret + "\xff" + `"}}`, "not valid UTF-8 (at byte 59)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeSubmission([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), secret) || len(err.Error()) > 200 {
				t.Errorf("got %v, want an error saying %q, quoting nothing of the message", err, tt.want)
			}
		})
	}
}

// TestPeekID reads the id of an event that does not decode, as far as the
// event goes before it breaks.
func TestPeekID(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"whole", `{"id":"a-1","service":"ISEE","extra":1}`, "a-1"},
		{"cut short after the id", `{"id":"a-2","service":"ISEE",`, "a-2"},
		{"nested too deep after the id", `{"id":"a-3","fields":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "a-3"},
		{"a NUL byte after the id", "{\"id\":\"a-4\",\"service\":\"IS\x00EE\"}", "a-4"},
		{"the last of several", `{"id":"a-5","id":"a-6","fields":1}`, "a-6"},
		{"an id that is not a string", `{"id":{"id":"a-7"},"fields":1}`, ""},
		{"an invalid id", `{"id":"a.8","fields":1}`, ""},
		{"broken before the id", `{"service":"ISEE" "id":"a-9"}`, ""},
		{"not an object", `["a-10"]`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PeekID([]byte(tt.in)); got != tt.want {
				t.Errorf("PeekID(%.60s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	t.Parallel()
	a, _ := DecodeSubmission([]byte(`{"id":"a","service":"ISEE","fields":{"$0":"x","$1":"y"},"options":["b","a"],"metadata":{"m":1}}`))
	b, _ := DecodeSubmission([]byte(`{"id":"a","service":"ISEE","fields":{"$1":"y","$0":"x"},"options":["a","b"],"metadata":{"m":2}}`))
	c, _ := DecodeSubmission([]byte(`{"id":"a","service":"ISEE","fields":{"$0":"x","$1":"z"},"options":["a","b"]}`))
	if a.Fingerprint() != b.Fingerprint() {
		t.Error("key order, option order or metadata changed the fingerprint")
	}
	if a.Fingerprint() == c.Fingerprint() {
		t.Error("a different field value kept the fingerprint")
	}
}

func FuzzDecodeSubmission(f *testing.F) {
	f.Add([]byte(`{"id":"a-1","service":"ISEE","fields":{"$0":"x"}}`))
	f.Add([]byte(`{"id":"a","service":"ISEE","fields":{"$0":{"x":[1,2,null]}},"metadata":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeSubmission(data)
		if err == nil {
			_ = s.Fingerprint()
		}
		_ = PeekID(data)
	})
}
