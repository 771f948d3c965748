package consumer

import (
	"sync"
	"time"

	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// Metrics are the pipeline's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	outcomes *prometheus.CounterVec
	duration *prometheus.HistogramVec
	posts    *prometheus.CounterVec
	breaker  prometheus.Gauge
	state    prometheus.Gauge
	wallet   prometheus.Gauge
	spend    *euroCounter
	requests *prometheus.CounterVec
	wait     prometheus.Histogram
	givenUp  prometheus.Counter
}

// waitBuckets span a submission's wait from the tens of milliseconds a
// pipeline with no backlog takes to the hours an onboarding's backlog
// can queue at the default upstream budget.
var waitBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 3 * 3600}

// NewMetrics registers the pipeline's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iseed", Name: "submission_outcomes_total",
			Help: "Messages processed by the submission pipeline, by outcome and dead-letter reason.",
		}, []string{"outcome", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "iseed", Name: "submission_processing_seconds",
			Help:    "Time to process one submission message, by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"outcome"}),
		posts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iseed", Name: "upstream_create_requests_total",
			Help: "POST /richiesta calls, by result class (ok, retryable, throttled, permanent, insufficient_credit, ambiguous, …).",
		}, []string{"class"}),
		breaker: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "iseed", Name: "upstream_breaker_open",
			Help: "1 while the circuit breaker around POST /richiesta is open and the pipeline is not pulling.",
		}),
		state: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "iseed", Name: "upstream_breaker_state",
			Help: "The circuit breaker around POST /richiesta: 0 closed, 1 half-open (the next POST is its trial), 2 open (the pipeline is not pulling).",
		}),
	}
	m.wallet = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "iseed", Name: "wallet_empty",
		Help: "1 while the Openapi wallet is empty (402) and the pipeline is not pulling.",
	})
	m.spend = newEuroCounter(metricSpendEuros,
		"Euros committed to upstream requests this process recorded, by tenant and service (iseed spend has the totals of every replica).",
		"tenant", "service")
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "iseed", Name: "paid_requests_total",
		Help: "Upstream requests this process recorded (each one paid), by tenant and service.",
	}, []string{"tenant", "service"})
	m.wait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "iseed", Name: "submission_wait_seconds",
		Help:    "Time from a submission message's publication (its stream timestamp) until this process recorded its upstream request: the queue, the upstream budget's wait, the POST.",
		Buckets: waitBuckets,
	})
	m.givenUp = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "iseed", Name: "advisories_given_up_total",
		Help: "Max-deliveries advisories given up after failing every delivery: a dead letter, failed event or finishing step never done.",
	})
	reg.MustRegister(m.outcomes, m.duration, m.posts, m.breaker, m.state, m.wallet, m.spend, m.requests, m.wait, m.givenUp)
	return m
}

func (m *Metrics) outcome(o Outcome, took time.Duration) {
	if m == nil {
		return
	}
	m.outcomes.WithLabelValues(o.Kind.String(), o.Reason).Inc()
	m.duration.WithLabelValues(o.Kind.String()).Observe(took.Seconds())
}

func (m *Metrics) advisoryGivenUp() {
	if m != nil {
		m.givenUp.Inc()
	}
}

func (m *Metrics) post(err error) {
	if m == nil {
		return
	}
	class := "ok"
	if err != nil {
		if c := visengine.ClassOf(err); c != 0 {
			class = c.String()
		} else if breakerOpen(err) {
			class = "breaker_open"
		} else {
			class = "error"
		}
	}
	m.posts.WithLabelValues(class).Inc()
}

// breakerState sets both breaker gauges. The open one alone drops to 0
// when the cooldown ends, the breaker half-open: with no submission to be
// its trial it stays half-open, and the alert on it cleared while the
// upstream was never shown well again (and, a failing trial every few
// minutes, never fired). The state gauge stays above 0 until a POST
// succeeds.
func (m *Metrics) breakerState(s gobreaker.State) {
	if m == nil {
		return
	}
	open, state := 0.0, 0.0
	switch s {
	case gobreaker.StateOpen:
		open, state = 1, 2
	case gobreaker.StateHalfOpen:
		state = 1
	}
	m.breaker.Set(open)
	m.state.Set(state)
}

func (m *Metrics) walletEmpty(empty bool) {
	if m == nil {
		return
	}
	v := 0.0
	if empty {
		v = 1
	}
	m.wallet.Set(v)
}

func (m *Metrics) spent(tenant, service string, c money.Cents) {
	if m == nil {
		return
	}
	m.spend.add(tenant, service, c)
	m.requests.WithLabelValues(tenant, service).Inc()
}

// waited observes how long a submission waited from its publication until
// its request was recorded (0 when the server's clock is ahead of ours).
func (m *Metrics) waited(d time.Duration) {
	if m != nil {
		m.wait.Observe(max(d, 0).Seconds())
	}
}

// euroCounter is a counter of euros by tenant and service that sums whole
// cents and shows the sum in euros when scraped. A CounterVec adds floats:
// three requests at 4.90 made 14.700000000000001, and the error grows with
// every request, where iseed spend says 14.70.
type euroCounter struct {
	desc *prometheus.Desc

	mu   sync.Mutex
	sums map[[2]string]money.Cents
}

// metricSpendEuros is the euroCounter of the requests recorded.
const metricSpendEuros = "iseed_spend_euros_total"

// newEuroCounter returns a euroCounter with two labels.
func newEuroCounter(name, help string, tenantLabel, serviceLabel string) *euroCounter {
	desc := prometheus.NewDesc(name, help, []string{tenantLabel, serviceLabel}, nil)
	return &euroCounter{desc: desc, sums: make(map[[2]string]money.Cents)}
}

func (e *euroCounter) add(tenant, service string, c money.Cents) {
	e.mu.Lock()
	e.sums[[2]string{tenant, service}] += c
	e.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (e *euroCounter) Describe(ch chan<- *prometheus.Desc) { ch <- e.desc }

// Collect implements prometheus.Collector.
func (e *euroCounter) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, c := range e.sums {
		ch <- prometheus.MustNewConstMetric(e.desc, prometheus.CounterValue, c.Euros(), k[0], k[1])
	}
}
