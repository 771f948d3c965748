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

// TestSchemasShowUnknownPrice: a service that publishes no prezzo_visura
// has an unknown price, which the table says, not 0.00 € (free); its JSON
// form keeps prezzo_visura null.
func TestSchemasShowUnknownPrice(t *testing.T) {
	cat := sim.DefaultCatalog()
	for i := range cat {
		if cat[i].Hash == sim.HashISEE {
			cat[i].PriceUnpublished = true
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
	for _, tt := range []struct {
		format    string
		want, not *regexp.Regexp
	}{
		{formatTable, regexp.MustCompile(`(?m)^price\s+unknown`), regexp.MustCompile(`(?m)^price\s+0\.00`)},
		{formatJSON, regexp.MustCompile(`"prezzo_visura": ?null`), regexp.MustCompile(`"prezzo_visura": ?0`)},
	} {
		var out bytes.Buffer
		if err := schemasShow(context.Background(), &env{stdout: &out}, cache, "ISEE", tt.format); err != nil {
			t.Fatal(err)
		}
		if !tt.want.MatchString(out.String()) || tt.not.MatchString(out.String()) {
			t.Errorf("%s: got %q, want %s and no %s", tt.format, out.String(), tt.want, tt.not)
		}
	}
}

// TestSchemasShowUnknownOptionPrice: an option that publishes no prezzo has
// an unknown price, which the table says, not +0.00 € (free); its JSON form
// keeps the option's prezzo null.
func TestSchemasShowUnknownOptionPrice(t *testing.T) {
	cat := sim.DefaultCatalog()
	for i := range cat {
		if cat[i].Hash == sim.HashISEE {
			cat[i].Options = []sim.Option{{Type: "urgenza", Price: 4, Name: "opzione_0", PriceUnpublished: true}}
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
	for _, tt := range []struct {
		format    string
		want, not *regexp.Regexp
	}{
		{formatTable, regexp.MustCompile(`(?m)^option\s+urgenza \(opzione_0\), price unknown`), regexp.MustCompile(`(?m)^option.*\+0\.00`)},
		{formatJSON, regexp.MustCompile(`"prezzo": ?null`), regexp.MustCompile(`"prezzo": ?0`)},
	} {
		var out bytes.Buffer
		if err := schemasShow(context.Background(), &env{stdout: &out}, cache, "ISEE", tt.format); err != nil {
			t.Fatal(err)
		}
		if !tt.want.MatchString(out.String()) || tt.not.MatchString(out.String()) {
			t.Errorf("%s: got %q, want %s and no %s", tt.format, out.String(), tt.want, tt.not)
		}
	}
}
