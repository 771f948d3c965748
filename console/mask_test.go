package console

import (
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/dlq"
)

func TestMask(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    []string // in the masked text
		not     []string // never in it
	}{
		{"submission",
			`{"id":"emp-7781","service":"ISEE","options":["urgenza"],"fields":{"Nome":"Mario","Codice Fiscale":"RSSMRA85T10A562S","Età":42,"Figli":[{"Nome":"Anna"}],"Coniugato":true,"Note":null},"metadata":{"employee_id":"7781"}}`,
			[]string{`"id": "emp-7781"`, `"service": "ISEE"`, `"urgenza"`, `"Nome": "•••"`, `"Codice Fiscale": "•••"`, `"Età": "•"`, `"Coniugato": "•"`, `"Note": null`, `"‹key 1›": "•••"`},
			[]string{"Mario", "RSSMRA85T10A562S", "42", "Anna", "true", "employee_id"}},
		{"id not a string", `{"id":{"Nome":"Mario"}}`, []string{`"‹key 1›": "•••"`}, []string{"Mario", "Nome"}},
		{"options not names", `{"options":[{"x":"Mario"}]}`, []string{`"‹key 1›": "•••"`}, []string{"Mario"}},
		{"not JSON", `Nome=Mario`, []string{"10 bytes, not a JSON object"}, []string{"Mario"}},
		{"a JSON string", `"Mario"`, []string{"not a JSON object"}, []string{"Mario"}},
		{"two values", `{"id":"a"} {"Nome":"Mario"}`, []string{"not a JSON object"}, []string{"Mario"}},
		{"long field name", `{"fields":{"` + strings.Repeat("k", 100) + `":"Mario"}}`, []string{strings.Repeat("k", 64) + "…"}, []string{"Mario", strings.Repeat("k", 65)}},
		{"a member that is not a submission's", `{"` + strings.Repeat("k", 100) + `":"Mario"}`, []string{`"‹key 1›": "•••"`}, []string{"Mario", "kkk"}},
		{"HTML stays text", `{"id":"<b>x</b>"}`, []string{`"id": "<b>x</b>"`}, nil},
		{"too many values", `{"id":"a","fields":{"a":[0` + strings.Repeat(",0", maxMaskedValues) + `]}}`, []string{"values: too many to show here"}, []string{"•", `"id"`}},
		{"many values in strings", `{"id":"a","fields":{"a":"` + strings.Repeat(`,:[{\"`, maxMaskedValues) + `"}}`, []string{`"a": "•••"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := masked(tt.payload)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("got\n%s\nwant it to contain %q", got, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(got, w) {
					t.Errorf("got\n%s\nwhich contains %q", got, w)
				}
			}
		})
	}
}

// TestMaskAgreesWithDLQ: the console and `iseed dlq show` without
// --reveal show the same members as they are, and mask the same ones.
func TestMaskAgreesWithDLQ(t *testing.T) {
	const cf = "RSSMRA85T10A562S"
	tests := []struct {
		payload string
		shown   bool // whether cf is shown
	}{
		{`{"id":"` + cf + `","service":"ISEE","fields":{}}`, true},
		{`{"id":"a","service":"` + cf + `","fields":{}}`, true},
		{`{"id":"a","options":["urgenza","` + cf + `"]}`, true},
		{`{"id":{"Codice Fiscale":"` + cf + `"},"service":"ISEE","fields":{}}`, false},
		{`{"id":["` + cf + `"]}`, false},
		{`{"id":"a","service":{"cf":"` + cf + `"},"fields":{}}`, false},
		{`{"service":["` + cf + `"]}`, false},
		{`{"options":{"Codice Fiscale":"` + cf + `"}}`, false},
		{`{"options":["urgenza",{"cf":"` + cf + `"}]}`, false},
		{`{"options":"` + cf + `"}`, false},
		{`{"version":"` + cf + `"}`, false},
		{`{"version":{"cf":"` + cf + `"}}`, false},
		{`{"fields":{"Codice Fiscale":"` + cf + `"}}`, false},
		{`{"metadata":{"id":"` + cf + `"}}`, false},
		{`{"metadata":{"` + cf + `":"E-77"}}`, false},
		{`{"metadata":{"a":[{"` + cf + `":1}]}}`, false},
	}
	for _, tt := range tests {
		console := strings.Contains(masked(tt.payload), cf)
		cli := strings.Contains(string(dlq.Mask([]byte(tt.payload), false)), cf)
		if console != tt.shown || cli != tt.shown {
			t.Errorf("%s: got shown by the console %v, by dlq.Mask %v, want %v by both", tt.payload, console, cli, tt.shown)
		}
	}
}

// TestMaskHidesMetadataKeys: metadata's keys are the producer's, not the
// schema's, and may name the person: they were shown as they are. Now
// they are masked like values, numbered, as dlq.Mask masks them.
func TestMaskHidesMetadataKeys(t *testing.T) {
	got := masked(`{"id":"a","fields":{"Nome":"x"},"metadata":{"Mario Rossi":"E-77","RSSMRA85T10A562S":{"Anna Rossi":1}}}`)
	for _, n := range []string{"Mario", "RSSMRA", "Anna"} {
		if strings.Contains(got, n) {
			t.Errorf("got\n%s\nwhich contains %q", got, n)
		}
	}
	for _, w := range []string{`"Nome": "•••"`, `"‹key 1›": "•••"`, `"‹key 1›": "•"`, `"‹key 2›": {`} {
		if !strings.Contains(got, w) {
			t.Errorf("got\n%s\nwant it to contain %q", got, w)
		}
	}
	if cli := string(dlq.Mask([]byte(`{"metadata":{"RSSMRA85T10A562S":1}}`), false)); strings.Contains(cli, "RSSMRA") {
		t.Errorf("dlq.Mask: got %s, want the key masked as the console masks it", cli)
	}
}

// TestMaskHidesFreeFormKeys: as dlq.Mask, the console numbers the keys a
// producer chose freely outside metadata too: a top-level member that is
// not a submission's, the keys of an object given as a field's value.
func TestMaskHidesFreeFormKeys(t *testing.T) {
	got := masked(`{"id":"a","Mario Rossi":1,"fields":{"Nome":{"RSSMRA85T10A562S":"x"}}}`)
	for _, n := range []string{"Mario", "RSSMRA"} {
		if strings.Contains(got, n) {
			t.Errorf("got\n%s\nwhich contains %q", got, n)
		}
	}
	for _, w := range []string{`"Nome": {`, `"‹key 1›": "•••"`, `"‹key 1›": "•"`} {
		if !strings.Contains(got, w) {
			t.Errorf("got\n%s\nwant it to contain %q", got, w)
		}
	}
}

// masked is what Mask shows of payload.
func masked(payload string) string {
	shown, _ := Mask([]byte(payload))
	return shown
}
