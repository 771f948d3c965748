package tracking

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the tracker's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	polls   *prometheus.CounterVec
	docs    prometheus.Counter
	trusted prometheus.Gauge
}

// NewMetrics registers the tracker's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "iseed", Name: "tracking_polls_total",
			Help: "Tracking task deliveries, by result: final (tracking over), open (poll again later), error, interrupted.",
		}, []string{"result"}),
		docs: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "iseed", Name: "documents_stored_total",
			Help: "Documents downloaded, verified and stored in the documents bucket.",
		}),
		trusted: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "iseed", Name: "callbacks_trusted",
			Help: "0 while callbacks are configured but look lost, and polls are not stretched; else 1.",
		}),
	}
	reg.MustRegister(m.polls, m.docs, m.trusted)
	return m
}

func (m *Metrics) poll(o trackOutcome) {
	if m == nil {
		return
	}
	result := "open"
	switch {
	case o.Interrupted:
		result = "interrupted"
	case o.Err != nil:
		result = "error"
	case o.Final:
		result = "final"
	}
	m.polls.WithLabelValues(result).Inc()
}

func (m *Metrics) documentStored() {
	if m != nil {
		m.docs.Inc()
	}
}

// callbacksTrusted sets iseed_callbacks_trusted.
func (m *Metrics) callbacksTrusted(on bool) {
	if m == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	m.trusted.Set(v)
}
