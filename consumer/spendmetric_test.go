package consumer

import (
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/money"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSpendMetricIsExactInCents: iseed_spend_euros_total shows the sum of
// the requests' prices in cents, as iseed spend does, not a sum of floats
// (three requests at 4.90 were 14.700000000000001).
func TestSpendMetricIsExactInCents(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	for range 3 {
		m.spent("gamma", "Visura Camerale", money.Cents(490))
	}
	for range 10 {
		m.spent("acme", "ISEE", money.Cents(1)) // ten times 0.01
	}
	want := `
# HELP iseed_spend_euros_total Euros committed to upstream requests this process recorded, by tenant and service (iseed spend has the totals of every replica).
# TYPE iseed_spend_euros_total counter
iseed_spend_euros_total{service="ISEE",tenant="acme"} 0.1
iseed_spend_euros_total{service="Visura Camerale",tenant="gamma"} 14.7
# HELP iseed_paid_requests_total Upstream requests this process recorded (each one paid), by tenant and service.
# TYPE iseed_paid_requests_total counter
iseed_paid_requests_total{service="ISEE",tenant="acme"} 10
iseed_paid_requests_total{service="Visura Camerale",tenant="gamma"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "iseed_spend_euros_total", "iseed_paid_requests_total"); err != nil {
		t.Error(err)
	}
}
