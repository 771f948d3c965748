package consumer_test

import (
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsCountOutcomesAndPosts(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	reg := prometheus.NewRegistry()
	m := consumer.NewMetrics(reg)
	h.Start(pipetest.WithMetrics(m))
	h.Publish(pipetest.Submission("m-1", pipetest.ValidFields("Mario")), nil)
	bad := pipetest.ValidFields("Mario")
	bad["Email"] = "nope"
	h.Publish(pipetest.Submission("m-2", bad), nil)
	h.WaitState("m-1", record.StateSubmitted)
	h.WaitState("m-2", record.StateRejected)
	want := `
# HELP iseed_upstream_create_requests_total POST /richiesta calls, by result class (ok, retryable, throttled, permanent, insufficient_credit, ambiguous, …).
# TYPE iseed_upstream_create_requests_total counter
iseed_upstream_create_requests_total{class="ok"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "iseed_upstream_create_requests_total"); err != nil {
		t.Error(err)
	}
	pipetest.WaitFor(t, 5e9, "both outcomes counted", func() bool {
		n, _ := testutil.GatherAndCount(reg, "iseed_submission_outcomes_total")
		return n == 2
	})
}
