package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	stdinFields, err := os.ReadFile("testdata/fields.json")
	if err != nil {
		t.Fatal(err)
	}
	event, err := os.ReadFile("testdata/event.json")
	if err != nil {
		t.Fatal(err)
	}
	badTarget := strings.Replace(string(event), `"email_target": "caf@example.it"`, `"email_target": "CAF Roma <caf@example.it>"`, 1)
	if badTarget == string(event) {
		t.Fatal("the event's email_target was not changed")
	}
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		valid  bool
		price  float64
		errors []string // "field code"
	}{
		{"fields by $N", []string{"--schema", "testdata/isee.json", "--input", "testdata/fields.json"}, "", 0, true, 12, nil},
		{"bare schema", []string{"--schema", "testdata/isee-bare.json", "--input", "testdata/fields.json"}, "", 0, true, 12, nil},
		{"fields by name", []string{"--schema=testdata/isee.json", "--input=testdata/fields-by-name.json"}, "", 0, true, 12, nil},
		{"an option flag", []string{"--schema", "testdata/isee.json", "--input", "testdata/fields.json", "--option", "opzione_0"}, "", 0, true, 16, nil},
		{"a whole submission event", []string{"--schema", "testdata/isee.json", "--input", "testdata/event.json"}, "", 0, true, 16, nil},
		{"standard input", []string{"--schema", "testdata/isee.json", "--input", "-"}, string(stdinFields), 0, true, 12, nil},
		{"invalid: every problem", []string{"--schema", "testdata/isee.json", "--input", "testdata/invalid.json"}, "", 1, false, 12,
			[]string{"$1 invalid_type", "$2 invalid_email", "$3 missing", "$4 invalid_codice_fiscale", "$5 invalid_file", "$9 unknown_field", "Indirizzo unknown_field"}},
		{"invalid: unknown option, price still quoted", []string{"--schema", "testdata/isee.json", "--input", "testdata/event.json", "--option", "express"}, "", 1, false, 16,
			[]string{"opzioni unknown_option"}},
		// The pipeline rejects it (invalid_email on email_target): not valid offline either.
		{"invalid: the event's email_target", []string{"--schema", "testdata/isee.json", "--input", "-"}, badTarget, 1, false, 16,
			[]string{"email_target invalid_email"}},
		{"invalid: a file too large for the limit", []string{"--schema", "testdata/isee.json", "--input", "testdata/fields.json", "--max-file-bytes", "10"}, "", 1, false, 12,
			[]string{"$5 file_too_large", "$6 file_too_large"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), append([]string{"validate"}, tt.args...), strings.NewReader(tt.stdin), &stdout, &stderr)
			if got := exitCode(err); got != tt.code {
				t.Fatalf("exit %d (%v), want %d; stderr: %s", got, err, tt.code, stderr.String())
			}
			var res struct {
				Valid        *bool    `json:"valid"`
				Price        *float64 `json:"price"`
				PriceUnknown *bool    `json:"price_unknown"`
				Errors       []struct {
					Field, Name, Code, Message string
				} `json:"errors"`
			}
			dec := json.NewDecoder(&stdout)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&res); err != nil {
				t.Fatalf("output is not the result object: %v", err)
			}
			if dec.More() {
				t.Errorf("more than one JSON value printed")
			}
			if res.Valid == nil || *res.Valid != tt.valid || res.Price == nil || *res.Price != tt.price || res.PriceUnknown == nil || *res.PriceUnknown || res.Errors == nil {
				t.Fatalf("got valid %v price %v (unknown %v) errors %v, want %v %v (known) and a list", res.Valid, res.Price, res.PriceUnknown, res.Errors, tt.valid, tt.price)
			}
			var got []string
			for _, e := range res.Errors {
				if e.Message == "" || e.Code == "" {
					t.Errorf("problem %+v lacks a code or message", e)
				}
				got = append(got, e.Field+" "+e.Code)
			}
			if strings.Join(got, ", ") != strings.Join(tt.errors, ", ") {
				t.Errorf("errors %v, want %v", got, tt.errors)
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr: %s", stderr.String())
			}
		})
	}
}

// TestValidateRefusesWhatThePipelineRefuses: input the pipeline refuses
// as malformed (a name given twice) is not called valid offline. A repeated field name passed, with its price,
// while the pipeline would have refused the event.
func TestValidateRefusesWhatThePipelineRefuses(t *testing.T) {
	event, err := os.ReadFile("testdata/event.json")
	if err != nil {
		t.Fatal(err)
	}
	fields, err := os.ReadFile("testdata/fields.json")
	if err != nil {
		t.Fatal(err)
	}
	twice := strings.Replace(string(event), `"$0": "Mario",`, `"$0": "Mario", "$0": "Luigi",`, 1)
	bareTwice := strings.Replace(string(fields), `{`, `{"$0": "Luigi",`, 1)
	for name, in := range map[string]string{"a field twice": twice, "bare fields, one twice": bareTwice} {
		t.Run(name, func(t *testing.T) {
			if in == string(event) || in == string(fields) {
				t.Fatal("the test input was not changed")
			}
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), []string{"validate", "--schema", "testdata/isee.json", "--input", "-"}, strings.NewReader(in), &stdout, &stderr)
			if got := exitCode(err); got != 2 {
				t.Fatalf("exit %d, want 2 (malformed); stdout: %s", got, stdout.String())
			}
			if !strings.Contains(err.Error(), "malformed") {
				t.Errorf("error %q does not say the input is malformed", err)
			}
		})
	}
}

func TestValidateCommandUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stderr string
	}{
		{"no flags", nil, "", 2, "needs --schema"},
		{"no input", []string{"--schema", "testdata/isee.json"}, "", 2, "needs --schema"},
		{"an argument", []string{"--schema", "testdata/isee.json", "--input", "testdata/fields.json", "extra"}, "", 2, `unexpected argument "extra"`},
		{"an unknown flag", []string{"--shema", "x"}, "", 2, "unknown flag: --shema"},
		{"help", []string{"-h"}, "", 0, "--schema"},
		{"schema file missing", []string{"--schema", "testdata/nope.json", "--input", "testdata/fields.json"}, "", 2, "nope.json"},
		{"schema that does not compile", []string{"--schema", "testdata/broken-schema.json", "--input", "testdata/fields.json"}, "", 2, "validazione at offset"},
		{"schema is not a schema", []string{"--schema", "testdata/fields.json", "--input", "testdata/fields.json"}, "", 2, "--schema"},
		{"input not JSON", []string{"--schema", "testdata/isee.json", "--input", "-"}, "$0=Mario", 2, "not a JSON object"},
		{"input an array", []string{"--schema", "testdata/isee.json", "--input", "-"}, `["Mario"]`, 2, "not a JSON object"},
		{"event for another service", []string{"--schema", "testdata/isee.json", "--input", "testdata/event-other-service.json"}, "", 2, `for service "NASPI"`},
		{"event options not strings", []string{"--schema", "testdata/isee.json", "--input", "-"}, `{"fields":{},"options":[1]}`, 2, "submission event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), append([]string{"validate"}, tt.args...), strings.NewReader(tt.stdin), &stdout, &stderr)
			if got := exitCode(err); got != tt.code {
				t.Fatalf("exit %d (%v), want %d", got, err, tt.code)
			}
			msg := stdout.String() + stderr.String() // help goes to standard output
			if err != nil {
				msg += err.Error()
			}
			if !strings.Contains(msg, tt.stderr) {
				t.Errorf("stderr and error %q, want %q in them", msg, tt.stderr)
			}
			if tt.code == 2 && stdout.Len() > 0 {
				t.Errorf("stdout %q on a usage error, want nothing", stdout.String())
			}
		})
	}
}
