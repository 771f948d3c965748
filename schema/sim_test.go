package schema

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestCacheWithSimulator runs the cache against the simulator through the
// real client and a real bucket, then with the simulator down.
func TestCacheWithSimulator(t *testing.T) {
	simulator := sim.New(sim.Config{Token: "token"})
	client, hs := simClient(t, simulator)
	kv := newBucket(t, runJetStream(t))
	clk := &clock{now: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	c := NewCache(client, kv, CacheConfig{TTL: time.Hour, Now: clk.Now})
	ctx := t.Context()

	s, err := c.Service(ctx, "isee")
	if err != nil || s.Hash != sim.HashISEE {
		t.Fatalf("Service(isee) = %v, %v; want the simulator's ISEE", s, err)
	}
	p, err := s.Validate(Input{Fields: iseeFields(), Options: []string{"urgenza"}}, Limits{})
	if err != nil || p.Price != 16 || !p.Opzioni["opzione_0"] {
		t.Errorf("Validate against the simulator's ISEE = %+v, %v; want price 16 with opzione_0", p, err)
	}
	if s, err := c.Service(ctx, "Visura Camerale Ordinaria - società di Capitale"); err != nil || s.Hash != sim.HashVisuraCameraleCapitale {
		t.Errorf("Service(camerale) = %v, %v", s, err)
	}
	if _, err := c.Service(ctx, "0123456789abcdef0123456789abcdef"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("unknown hash: err = %v, want ErrUnknownService", err)
	}

	hs.Close() // the simulator is down
	clk.advance(2 * time.Hour)
	if s, err := c.Service(ctx, "ISEE"); err != nil || s.Hash != sim.HashISEE {
		t.Errorf("simulator down: Service(ISEE) = %v, %v; want the stale entry", s, err)
	}
	if _, err := c.Service(ctx, sim.HashNASPI); visengine.ClassOf(err) != visengine.ClassRetryable {
		t.Errorf("simulator down, nothing cached: err = %v (class %v), want a retryable error", err, visengine.ClassOf(err))
	}
}

// TestCacheNamesDifferingInCase: a catalog may list two services whose
// names differ only in case. A submission naming one exactly gets that
// one, not the first that matches without regard to case (a request of
// the other service, paid for); a spelling that matches both and neither
// exactly is refused, not guessed.
func TestCacheNamesDifferingInCase(t *testing.T) {
	const otherHash = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	catalog := sim.DefaultCatalog()
	var isee sim.Service
	for _, s := range catalog {
		if s.Hash == sim.HashISEE {
			isee = s
		}
	}
	other := isee
	other.Name, other.Hash, other.Price = "Isee", otherHash, 30
	catalog = append([]sim.Service{other}, catalog...) // listed first
	client, _ := simClient(t, sim.New(sim.Config{Token: "token", Catalog: catalog}))
	c := NewCache(client, newBucket(t, runJetStream(t)), CacheConfig{TTL: time.Hour})
	ctx := t.Context()
	for _, tt := range []struct{ name, want string }{
		{"ISEE", sim.HashISEE},
		{" ISEE ", sim.HashISEE},
		{"Isee", otherHash},
		{"naspi", sim.HashNASPI}, // one service in any case
	} {
		s, err := c.Service(ctx, tt.name)
		if err != nil {
			t.Errorf("Service(%q): got error %v, want hash %s", tt.name, err, tt.want)
			continue
		}
		if s.Hash != tt.want {
			t.Errorf("Service(%q): got hash %s (%s, %g €), want %s", tt.name, s.Hash, s.Name, s.Price, tt.want)
		}
	}
	if s, err := c.Service(ctx, "isee"); !errors.Is(err, ErrUnknownService) {
		got := "no service"
		if s != nil {
			got = s.Hash
		}
		t.Errorf("Service(%q), a spelling of two services: got %s, %v; want an error wrapping ErrUnknownService", "isee", got, err)
	}
}

// simClient serves simulator over HTTP and returns a client of it, and
// the server (closed at the test's end).
func simClient(t *testing.T, simulator *sim.Server) (*visengine.Client, *httptest.Server) {
	t.Helper()
	t.Cleanup(simulator.Close)
	return rawSchemaClient(t, simulator)
}

// TestCacheRefusalIsNoUnknownService: the only answer the API publishes
// for a service that does not exist is 400 with code 200 ("wrong
// hash_visura"). Another refusal of GET /visure/{hash} (here the
// simulator's injected 400, code 400) says nothing about the service: it
// must not reject submissions as unknown_service (a dead letter).
func TestCacheRefusalIsNoUnknownService(t *testing.T) {
	simulator := sim.New(sim.Config{Token: "token"})
	client, _ := simClient(t, simulator)
	kv := newBucket(t, runJetStream(t))
	clk := &clock{now: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	c := NewCache(client, kv, CacheConfig{TTL: time.Hour, Now: clk.Now})
	ctx := t.Context()
	if _, err := c.Service(ctx, sim.HashISEE); err != nil {
		t.Fatalf("Service(ISEE) = %v", err)
	}

	clk.advance(2 * time.Hour) // expired: the next use asks the upstream
	simulator.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"GET /visure/{hash}": {Status: 400, Next: 1}}})
	_, err := c.Service(ctx, sim.HashISEE)
	if errors.Is(err, ErrUnknownService) {
		t.Fatalf("a 400 without code 200: err = %v, want an error that is not ErrUnknownService", err)
	}
	if s, err := c.Service(ctx, sim.HashISEE); err != nil || s.Hash != sim.HashISEE {
		t.Errorf("after the refusal: Service(ISEE) = %v, %v; want the service", s, err)
	}

	// The published answer still means an unknown service.
	if _, err := c.Service(ctx, "0123456789abcdef0123456789abcdef"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("400/200 wrong hash_visura: err = %v, want ErrUnknownService", err)
	}
}

// TestCatalogRefusalIsNoUnknownService: while GET /visure fails, a
// service name is tried as a hash, and the upstream's "wrong hash_visura"
// for it says only that the name is no hash. Whatever the catalog's
// failure (here a refusal, permanent for the client, which the API
// publishes none of for this call), the name must not be rejected as
// unknown_service.
func TestCatalogRefusalIsNoUnknownService(t *testing.T) {
	simulator := sim.New(sim.Config{Token: "token"})
	client, _ := simClient(t, simulator)
	c := NewCache(client, newBucket(t, runJetStream(t)), CacheConfig{TTL: time.Hour})
	simulator.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"GET /visure": {Status: 400, Next: 1}}})
	_, err := c.Service(t.Context(), "ISEE")
	if errors.Is(err, ErrUnknownService) {
		t.Fatalf("catalog refused: Service(ISEE) = %v, want an error that is not ErrUnknownService", err)
	}
	if err == nil {
		t.Fatal("catalog refused: Service(ISEE) succeeded, want an error")
	}
	if s, err := c.Service(t.Context(), "ISEE"); err != nil || s.Hash != sim.HashISEE {
		t.Errorf("catalog back: Service(ISEE) = %v, %v; want the service", s, err)
	}
}
