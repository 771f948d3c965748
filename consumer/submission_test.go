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
