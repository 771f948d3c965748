package overview

import (
	"slices"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/prometheus/client_golang/prometheus"
)

// Metric names, as exported; docs/operations.md and the dashboard use them.
const (
	MetricOpenRequests      = "iseed_open_requests"
	MetricOldestOpenRequest = "iseed_oldest_open_request_seconds"
	MetricOverdueRequests   = "iseed_overdue_requests"
	MetricHeldSubmissions   = "iseed_held_submissions"
	MetricHeldByCode        = "iseed_held_submissions_by_code"
	MetricUnsentSubmissions = "iseed_unsent_submissions"
	MetricDeadLetters       = "iseed_dead_letters"
	MetricBacklog           = "iseed_submissions_backlog"
	MetricInFlight          = "iseed_submissions_in_flight"
	MetricRedelivered       = "iseed_submissions_redelivered"
	MetricOldestWaiting     = "iseed_submissions_oldest_waiting_seconds"
	MetricTrackingTasks     = "iseed_tracking_tasks"
	MetricCallsPerSecond    = "iseed_upstream_calls_per_second"
	MetricRateLimit         = "iseed_upstream_rate_limit"
	MetricUpdated           = "iseed_overview_updated_timestamp_seconds"
	MetricPausedScopes      = "iseed_paused_scopes"
)

// collector reports the overview's last snapshot (Overview.Latest) as
// gauges; a scrape does no I/O.
type collector struct {
	o     *Overview
	descs map[string]*prometheus.Desc
}

// Register registers the overview's gauges with reg. They report the
// snapshot Run takes every Refresh; a part missing from it (not read yet,
// or unreadable) is missing from the scrape rather than reported as 0.
func (o *Overview) Register(reg prometheus.Registerer) error {
	return reg.Register(newCollector(o))
}

func newCollector(o *Overview) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	c := &collector{o: o, descs: map[string]*prometheus.Desc{
		MetricOpenRequests:      d(MetricOpenRequests, "Upstream requests being tracked, by record state (awaiting_document: Visura evasa upstream, final document not stored yet).", "state"),
		MetricOldestOpenRequest: d(MetricOldestOpenRequest, "Age of the oldest open upstream request, since it was submitted (0 when none is open)."),
		MetricOverdueRequests:   d(MetricOverdueRequests, "Open requests marked overdue by the tracker or open longer than ISEED_OVERDUE_WORKDAYS working days."),
		MetricHeldSubmissions:   d(MetricHeldSubmissions, "Submissions held before they are sent (record state held)."),
		MetricHeldByCode:        d(MetricHeldByCode, "Held submissions by why they are held: a spending cap's code, unknown_price, a pause's, fair_share (their tenant's share of the upstream budget's waits) or queued (behind older holds of their tenant).", "code"),
		MetricUnsentSubmissions: d(MetricUnsentSubmissions, "Submissions without an upstream request that are not closed, by record state (claimed, held, ...).", "state"),
		MetricDeadLetters:       d(MetricDeadLetters, "Dead letters in the DLQ stream, by reason.", "reason"),
		MetricBacklog:           d(MetricBacklog, "Submission messages stored and not yet delivered to a worker (the submitter consumer's pending count)."),
		MetricInFlight:          d(MetricInFlight, "Submission messages delivered and not yet acknowledged (the submitter consumer's ack-pending count)."),
		MetricRedelivered:       d(MetricRedelivered, "Submission messages in flight that were delivered more than once."),
		MetricOldestWaiting:     d(MetricOldestWaiting, "How long ago the oldest submission message not yet acknowledged was published (waiting for a worker, its upstream token or its next try); 0 when none."),
		MetricTrackingTasks:     d(MetricTrackingTasks, "Tracking tasks (one per open request) in the tracker consumer, delivered or not."),
		MetricCallsPerSecond:    d(MetricCallsPerSecond, "Upstream calls per second this replica made over the last minute, as its rate limiter granted them (sum over replicas for the deployment)."),
		MetricRateLimit:         d(MetricRateLimit, "Upstream calls per second the rate limiter allows."),
		MetricUpdated:           d(MetricUpdated, "When the overview's gauges were last computed (unix seconds)."),
		MetricPausedScopes:      d(MetricPausedScopes, "Tenants, and the account, an operator paused (iseed budget pause): their submissions are held as they come; iseed budget list names them."),
	}}
	return c
}

// Describe sends every descriptor.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect sends the gauges of the last snapshot.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.o.Latest()
	if s == nil {
		return
	}
	g := func(name string, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(c.descs[name], prometheus.GaugeValue, v, labels...)
	}
	g(MetricUpdated, float64(s.At.UnixMilli())/1e3)
	if r := s.Requests; r != nil {
		byLabel(r.Open, nil, func(k string, n int) { g(MetricOpenRequests, float64(n), k) })
		byLabel(r.Unsent, []string{"claimed", StateHeld}, func(k string, n int) { g(MetricUnsentSubmissions, float64(n), k) })
		g(MetricOldestOpenRequest, s.OldestAge().Seconds())
		g(MetricOverdueRequests, float64(r.Overdue))
		g(MetricHeldSubmissions, float64(r.Held))
		byLabel(r.HeldBy, []string{publisher.HeldFairShare, publisher.HeldQueued}, func(k string, n int) { g(MetricHeldByCode, float64(n), k) })
	}
	if s.DeadLetters != nil {
		byLabel(s.DeadLetters, dlq.Reasons(), func(k string, n int) { g(MetricDeadLetters, float64(n), k) })
	}
	if sub := s.Submissions; sub != nil {
		g(MetricBacklog, float64(sub.Backlog))
		g(MetricInFlight, float64(sub.InFlight))
		g(MetricRedelivered, float64(sub.Redelivered))
		if sub.OldestWaiting != nil {
			g(MetricOldestWaiting, *sub.OldestWaiting)
		}
	}
	if s.Tracking != nil {
		g(MetricTrackingTasks, float64(s.Tracking.Tasks))
	}
	if u := s.Upstream; u != nil {
		g(MetricCallsPerSecond, u.CallsPerSecond)
		g(MetricRateLimit, u.RateLimit)
	}
	if s.PausedKnown {
		g(MetricPausedScopes, float64(len(s.Paused)))
	}
}

// byLabel calls f for every key of counts and of always (0 when absent),
// once each, in order.
func byLabel(counts map[string]int, always []string, f func(string, int)) {
	keys := slices.Clone(always)
	for k := range counts {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		f(k, counts[k])
	}
}
