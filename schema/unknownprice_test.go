package schema

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestUnknownPriceIsNotFree: a schema without prezzo_visura, or with
// null, has no known price, which is not the price 0 of a free service;
// the canonical form writes it back as null, so that Parse reads it as it
// was.
func TestUnknownPriceIsNotFree(t *testing.T) {
	const rest = `"hash_visura":"h1","nome_visura":"S","json_struttura":{"campi":{"$0":{"nome":"A","tipo":"testo"}},"validazione":"$0"}`
	for _, tt := range []struct {
		name, price string // price: the member as published, "" for none
		unknown     bool
		want        float64
	}{
		{"absent", "", true, 0},
		{"null", `"prezzo_visura":null,`, true, 0},
		{"empty string", `"prezzo_visura":"",`, true, 0},
		{"zero", `"prezzo_visura":0,`, false, 0},
		{"zero string", `"prezzo_visura":"0,00",`, false, 0},
		{"a price", `"prezzo_visura":"11,70",`, false, 11.7},
	} {
		s, err := Parse([]byte("{" + tt.price + rest + "}"))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if s.PriceUnknown != tt.unknown || s.Price != tt.want {
			t.Errorf("%s: price %v, unknown %v; want %v, %v", tt.name, s.Price, s.PriceUnknown, tt.want, tt.unknown)
		}
		canon, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(canon), `"prezzo_visura":null`); got != tt.unknown {
			t.Errorf("%s: canonical form %s: prezzo_visura null %v, want %v", tt.name, canon, got, tt.unknown)
		}
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("%s: canonical form read back: %v", tt.name, err)
		}
		if again.PriceUnknown != tt.unknown || again.Price != tt.want {
			t.Errorf("%s: canonical form read back: price %v, unknown %v; want %v, %v", tt.name, again.Price, again.PriceUnknown, tt.want, tt.unknown)
		}
		p, err := s.Validate(Input{Fields: map[string]any{"A": "x"}}, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if p.PriceUnknown != tt.unknown {
			t.Errorf("%s: prepared price unknown %v, want %v", tt.name, p.PriceUnknown, tt.unknown)
		}
	}
}

// TestUnknownPriceSurvivesTheCache: the cache keeps a schema's unknown
// price in memory and in its bucket, so that a replica that starts while
// the upstream is down (the bucket its only source) does not take the
// service for free.
func TestUnknownPriceSurvivesTheCache(t *testing.T) {
	catalog := sim.DefaultCatalog()
	for i := range catalog {
		switch catalog[i].Hash {
		case sim.HashISEE:
			catalog[i].PriceUnpublished = true
		case sim.HashNASPI:
			catalog[i].Price = 0 // published, free
		}
	}
	client, hs := simClient(t, sim.New(sim.Config{Token: "token", Catalog: catalog}))
	kv := newBucket(t, runJetStream(t))
	clk := &clock{now: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	cfg := CacheConfig{TTL: time.Hour, Now: clk.Now}
	c := NewCache(client, kv, cfg)
	ctx := t.Context()
	for _, tt := range []struct {
		hash    string
		unknown bool
	}{{sim.HashISEE, true}, {sim.HashNASPI, false}} {
		s, err := c.Service(ctx, tt.hash)
		if err != nil {
			t.Fatal(err)
		}
		if s.PriceUnknown != tt.unknown || s.Price != 0 {
			t.Errorf("%s: price %v, unknown %v; want 0, %v", tt.hash, s.Price, s.PriceUnknown, tt.unknown)
		}
	}
	hs.Close() // the upstream is down
	clk.advance(2 * time.Hour)
	restarted := NewCache(client, kv, cfg) // empty memory, the same bucket
	for _, tt := range []struct {
		hash    string
		unknown bool
	}{{sim.HashISEE, true}, {sim.HashNASPI, false}} {
		s, err := restarted.Service(ctx, tt.hash)
		if err != nil {
			t.Fatal(err)
		}
		if s.PriceUnknown != tt.unknown || s.Price != 0 {
			t.Errorf("%s from the bucket: price %v, unknown %v; want 0, %v", tt.hash, s.Price, s.PriceUnknown, tt.unknown)
		}
		e, err := kv.Get(ctx, serviceKey(tt.hash))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(e.Value()), `"prezzo_visura":null`); got != tt.unknown {
			t.Errorf("%s: bucket entry %s: prezzo_visura null %v, want %v", tt.hash, e.Value(), got, tt.unknown)
		}
	}
}

// TestUnknownOptionPriceIsNotFree: an option published without prezzo
// (absent, null or "") has no known price, which is not free: a submission
// that chooses it has an unknown price (Prepared.PriceUnknown), as one of a
// service without prezzo_visura; one that does not choose it keeps its
// known price. The canonical form writes the option's prezzo back as null.
func TestUnknownOptionPriceIsNotFree(t *testing.T) {
	const rest = `"hash_visura":"h1","nome_visura":"S","prezzo_visura":10,"json_struttura":{"campi":{"$0":{"nome":"A","tipo":"testo"}},"validazione":"$0"}`
	for _, tt := range []struct {
		name, price string // price: the option's member as published, "" for none
		unknown     bool
		want        float64 // the price with the urgency chosen, as far as known
	}{
		{"absent", "", true, 10},
		{"null", `"prezzo":null,`, true, 10},
		{"empty string", `"prezzo":"",`, true, 10},
		{"zero", `"prezzo":0,`, false, 10},
		{"a price", `"prezzo":"4,50",`, false, 14.5},
	} {
		opzioni := `"opzioni":[{"tipo":"urgenza",` + tt.price + `"nome":"opzione_0"},{"tipo":"pec","prezzo":2,"nome":"opzione_1"}],`
		s, err := Parse([]byte("{" + opzioni + rest + "}"))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		canon, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(canon), `"prezzo":null`); got != tt.unknown {
			t.Errorf("%s: canonical form %s: an option's prezzo null %v, want %v", tt.name, canon, got, tt.unknown)
		}
		again, err := Parse(canon)
		if err != nil {
			t.Fatalf("%s: canonical form read back: %v", tt.name, err)
		}
		for _, svc := range []struct {
			from string
			s    *Service
		}{{"parsed", s}, {"canonical form read back", again}} {
			for _, choice := range []struct {
				options []string
				unknown bool
				price   float64
			}{
				{[]string{"urgenza"}, tt.unknown, tt.want},
				{[]string{"urgenza", "pec"}, tt.unknown, tt.want + 2},
				{[]string{"pec"}, false, 12}, // the unpriced option not chosen
				{nil, false, 10},
			} {
				p, err := svc.s.Validate(Input{Fields: map[string]any{"A": "x"}, Options: choice.options}, Limits{})
				if err != nil {
					t.Fatalf("%s, %s: %v", tt.name, svc.from, err)
				}
				if p.PriceUnknown != choice.unknown || p.Price != choice.price {
					t.Errorf("%s, %s, options %v: prepared price %v, unknown %v; want %v, %v",
						tt.name, svc.from, choice.options, p.Price, p.PriceUnknown, choice.price, choice.unknown)
				}
			}
		}
	}
}

// TestUnknownOptionPriceSurvivesTheCache: the cache keeps an option's
// unknown price in memory and in its bucket, so that a replica reading the
// schema from the bucket alone does not take the option for free.
func TestUnknownOptionPriceSurvivesTheCache(t *testing.T) {
	catalog := sim.DefaultCatalog()
	for i := range catalog {
		if catalog[i].Hash == sim.HashISEE {
			catalog[i].Options = []sim.Option{{Type: "urgenza", Price: 4, Name: "opzione_0", PriceUnpublished: true}}
		}
	}
	client, hs := simClient(t, sim.New(sim.Config{Token: "token", Catalog: catalog}))
	kv := newBucket(t, runJetStream(t))
	clk := &clock{now: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	cfg := CacheConfig{TTL: time.Hour, Now: clk.Now}
	ctx := t.Context()
	check := func(from string, c *Cache) {
		t.Helper()
		s, err := c.Service(ctx, sim.HashISEE)
		if err != nil {
			t.Fatal(err)
		}
		if s.PriceUnknown {
			t.Errorf("%s: the service's own price taken for unknown", from)
		}
		p, err := s.Validate(Input{Fields: iseeFields(), Options: []string{"urgenza"}}, Limits{})
		if err != nil {
			t.Fatalf("%s: %v", from, err)
		}
		if !p.PriceUnknown {
			t.Errorf("%s: the urgency chosen, prepared price %v known; want unknown", from, p.Price)
		}
	}
	check("from the upstream", NewCache(client, kv, cfg))
	hs.Close() // the upstream is down
	clk.advance(2 * time.Hour)
	check("from the bucket", NewCache(client, kv, cfg)) // empty memory, the same bucket
	e, err := kv.Get(ctx, serviceKey(sim.HashISEE))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(e.Value()), `"prezzo":null`) {
		t.Errorf("bucket entry %s: want the option's prezzo null", e.Value())
	}
}
