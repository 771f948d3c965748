package budget_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/money"
)

// TestUsageJSONKeys pins the keys docs/money.md gives for `iseed budget show
// -o json`: held is the reservations in flight, spent what the caps counted.
func TestUsageJSONKeys(t *testing.T) {
	loc := time.FixedZone("CET", 3600)
	u := budget.Usage{Period: money.Day(time.Date(2026, 12, 4, 12, 0, 0, 0, loc), loc), Spent: 2800, Requests: 2, Held: 1, CapEUR: 3000}
	b, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"period":{"from":"2026-12-04T00:00:00+01:00","to":"2026-12-05T00:00:00+01:00"},"spent":28.00,"requests":2,"held":1,"cap_eur":30.00}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
}
