package consumer_test

import (
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsCountOutcomesAndPosts(t *testing.T) {
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	m := consumer.NewMetrics(reg)
	h.start(withMetrics(m))
	h.publish(submission("m-1", validFields("Mario")), nil)
	bad := validFields("Mario")
	bad["Email"] = "nope"
	h.publish(submission("m-2", bad), nil)
	h.waitState("m-1", consumer.StateSubmitted)
	h.waitState("m-2", consumer.StateRejected)
	want := `
# HELP iseed_upstream_create_requests_total POST /richiesta calls, by result class (ok, retryable, throttled, permanent, insufficient_credit, ambiguous, …).
# TYPE iseed_upstream_create_requests_total counter
iseed_upstream_create_requests_total{class="ok"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "iseed_upstream_create_requests_total"); err != nil {
		t.Error(err)
	}
	waitFor(t, 5e9, "both outcomes counted", func() bool {
		n, _ := testutil.GatherAndCount(reg, "iseed_submission_outcomes_total")
		return n == 2
	})
}
