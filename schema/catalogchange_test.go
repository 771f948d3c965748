package schema

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// switchedSim serves whichever simulator was set last: the upstream's
// catalog changing under a running cache.
type switchedSim struct{ cur atomic.Pointer[sim.Server] }

func (s *switchedSim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.cur.Load().ServeHTTP(w, r) }

func (s *switchedSim) set(t *testing.T, catalog []sim.Service) {
	simulator := sim.New(sim.Config{Token: "token", Catalog: catalog})
	t.Cleanup(simulator.Close)
	s.cur.Store(simulator)
}

// TestCacheCatalogChangesReachNames: the upstream's catalog changes while
// the cache holds it: a service is added, and ISEE is published under a
// new hash_visura (the old one is answered "wrong hash_visura"). A
// submission naming either by its catalog name is the service once the
// catalog is a CatalogRecheck old, as one naming an added service by its
// hash already was; it was rejected unknown_service until the catalog's
// TTL ended, a day.
func TestCacheCatalogChangesReachNames(t *testing.T) {
	const newHash = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	up := &switchedSim{}
	up.set(t, sim.DefaultCatalog())
	client, _ := rawSchemaClient(t, up)
	clk := &clock{now: time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC)}
	c := NewCache(client, newBucket(t, runJetStream(t)), CacheConfig{TTL: 24 * time.Hour, Now: clk.Now})
	ctx := t.Context()
	if s, err := c.Service(ctx, "ISEE"); err != nil || s.Hash != sim.HashISEE {
		t.Fatalf("Service(ISEE) = %v, %v; want the simulator's ISEE", s, err)
	}

	changed := sim.DefaultCatalog()
	for i := range changed {
		if changed[i].Hash == sim.HashISEE {
			added := changed[i]
			added.Name, added.Hash = "ISEE NUOVO", strings.Repeat("b", 32)
			changed[i].Hash = newHash
			changed = append(changed, added)
			break
		}
	}
	up.set(t, changed)
	clk.advance(DefaultCatalogRecheck + time.Second)
	if err := c.Invalidate(ctx, sim.HashISEE); err != nil { // a POST naming the old hash was refused
		t.Fatal(err)
	}

	for _, tt := range []struct{ name, want string }{
		{"ISEE NUOVO", strings.Repeat("b", 32)},
		{"ISEE", newHash},
	} {
		s, err := c.Service(ctx, tt.name)
		if err != nil {
			t.Errorf("Service(%q) after the catalog changed: got error %v, want hash %s", tt.name, err, tt.want)
			continue
		}
		if s.Hash != tt.want {
			t.Errorf("Service(%q) after the catalog changed: got hash %s, want %s", tt.name, s.Hash, tt.want)
		}
	}
	if _, err := c.Service(ctx, "ISEE VECCHISSIMO"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Service(a name the catalog never listed): got %v, want ErrUnknownService", err)
	}
}
