package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestSchemasShowUnknownPrice: a service that publishes no prezzo_visura,
// or an option that publishes no prezzo, has an unknown price, which the
// table says, not 0.00 € or +0.00 € (free); the JSON form keeps it null.
func TestSchemasShowUnknownPrice(t *testing.T) {
	type check struct {
		format    string
		want, not *regexp.Regexp
	}
	for _, tc := range []struct {
		name   string
		change func(*sim.Service)
		checks []check
	}{
		{"service", func(s *sim.Service) { s.PriceUnpublished = true }, []check{
			{formatTable, regexp.MustCompile(`(?m)^price\s+unknown`), regexp.MustCompile(`(?m)^price\s+0\.00`)},
			{formatJSON, regexp.MustCompile(`"prezzo_visura": ?null`), regexp.MustCompile(`"prezzo_visura": ?0`)},
		}},
		{"option", func(s *sim.Service) {
			s.Options = []sim.Option{{Type: "urgenza", Price: 4, Name: "opzione_0", PriceUnpublished: true}}
		}, []check{
			{formatTable, regexp.MustCompile(`(?m)^option\s+urgenza \(opzione_0\), price unknown`), regexp.MustCompile(`(?m)^option.*\+0\.00`)},
			{formatJSON, regexp.MustCompile(`"prezzo": ?null`), regexp.MustCompile(`"prezzo": ?0`)},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := simSchemaCache(t, tc.change)
			for _, c := range tc.checks {
				var out bytes.Buffer
				if err := schemasShow(context.Background(), &env{stdout: &out}, cache, "ISEE", c.format); err != nil {
					t.Fatal(err)
				}
				if !c.want.MatchString(out.String()) || c.not.MatchString(out.String()) {
					t.Errorf("%s: got %q, want %s and no %s", c.format, out.String(), c.want, c.not)
				}
			}
		})
	}
}

// simSchemaCache serves the schemas of the simulator's default catalog,
// its ISEE service changed by change, over HTTP.
func simSchemaCache(t *testing.T, change func(*sim.Service)) *schema.Cache {
	t.Helper()
	cat := sim.DefaultCatalog()
	for i := range cat {
		if cat[i].Hash == sim.HashISEE {
			change(&cat[i])
		}
	}
	s := sim.New(sim.Config{Token: "token", Catalog: cat})
	hs := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); hs.Close() })
	u, _ := url.Parse(hs.URL)
	client, err := visengine.New(visengine.Config{BaseURL: u, Token: "token", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return schema.NewCache(client, nil, schema.CacheConfig{})
}

// TestValidateUnknownPrice: iseed validate says the price is unknown when
// the service's prezzo_visura or a chosen option's prezzo is, as text and
// as JSON (price null, price_unknown true), valid or not. It printed
// 0.00 € (or the known part alone), which reads as free. An unpriced
// option not chosen leaves the price known.
func TestValidateUnknownPrice(t *testing.T) {
	unpricedService := func(s *sim.Service) { s.PriceUnpublished = true }
	unpricedOption := func(s *sim.Service) {
		s.Options = []sim.Option{{Type: "urgenza", Price: 4, Name: "opzione_0", PriceUnpublished: true}}
	}
	for _, tc := range []struct {
		name    string
		change  func(*sim.Service)
		args    []string
		code    int
		unknown bool
		price   float64 // when known
		table   *regexp.Regexp
	}{
		{"service, valid", unpricedService, nil, 0, true, 0, regexp.MustCompile(`^valid, price unknown`)},
		{"service, invalid", unpricedService, []string{"--max-file-bytes", "10"}, 1, true, 0, regexp.MustCompile(`^invalid, 2 problem\(s\) \(price unknown`)},
		{"chosen option, valid", unpricedOption, []string{"--option", "urgenza"}, 0, true, 0, regexp.MustCompile(`^valid, price unknown`)},
		{"chosen option, invalid", unpricedOption, []string{"--option", "opzione_0", "--max-file-bytes", "10"}, 1, true, 0, regexp.MustCompile(`^invalid, 2 problem\(s\) \(price unknown`)},
		{"option not chosen", unpricedOption, nil, 0, false, 12, regexp.MustCompile(`^valid, price 12\.00 €`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var saved bytes.Buffer
			if err := schemasShow(t.Context(), &env{stdout: &saved}, simSchemaCache(t, tc.change), "ISEE", formatJSON); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "schema.json")
			if err := os.WriteFile(path, saved.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			args := append([]string{"validate", "--schema", path, "--input", "testdata/fields.json"}, tc.args...)
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), append(args, "-o", "json"), strings.NewReader(""), &stdout, &stderr)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("exit %d (%v), want %d; stderr: %s", got, err, tc.code, stderr.String())
			}
			var res map[string]any
			if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
				t.Fatalf("output %q: %v", stdout.String(), err)
			}
			if tc.unknown {
				if res["price"] != nil || res["price_unknown"] != true {
					t.Errorf("JSON %s: want \"price\": null and \"price_unknown\": true", stdout.String())
				}
			} else if res["price"] != tc.price || res["price_unknown"] != false {
				t.Errorf("JSON %s: want \"price\": %v and \"price_unknown\": false", stdout.String(), tc.price)
			}
			stdout.Reset()
			err = run(t.Context(), append(args, "-o", "table"), strings.NewReader(""), &stdout, &stderr)
			if got := exitCode(err); got != tc.code {
				t.Fatalf("table: exit %d (%v), want %d", got, err, tc.code)
			}
			if !tc.table.MatchString(stdout.String()) || (tc.unknown && strings.Contains(stdout.String(), "€")) {
				t.Errorf("table: got %q, want %s and, unknown, no amount", stdout.String(), tc.table)
			}
		})
	}
}
