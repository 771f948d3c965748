package schema

import (
	"context"
	"errors"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
)

// catalogDown fails GET /visure only (a 503 on that endpoint, a timeout on a
// large catalog, a 429) while GET /visure/{hash} answers.
type catalogDown struct{ *fakeUpstream }

func (c catalogDown) Visure(ctx context.Context) ([]visengine.VisuraSummary, error) {
	return nil, &visengine.Error{Op: "GET /visure", Status: 503, Class: visengine.ClassRetryable, Message: "service unavailable"}
}

// A service named by its catalog name while the catalog is briefly
// unavailable must be a transient error, not "unknown service" (which the
// pipeline turns into a permanent rejection).
func TestCatalogOutageIsNotUnknownService(t *testing.T) {
	up := catalogDown{newFakeUpstream(t, "isee.json")}
	c := NewCache(up, nil, CacheConfig{})
	_, err := c.Service(context.Background(), "ISEE")
	if errors.Is(err, ErrUnknownService) {
		t.Fatalf("got %v, want a transient error: the catalog was down, the service exists", err)
	}
}
