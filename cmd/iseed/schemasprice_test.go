package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/url"
	"regexp"
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
			cat := sim.DefaultCatalog()
			for i := range cat {
				if cat[i].Hash == sim.HashISEE {
					tc.change(&cat[i])
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
			cache := schema.NewCache(client, nil, schema.CacheConfig{})
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
