package tracking

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the tracker's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	polls *prometheus.CounterVec
	docs  prometheus.Counter
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
	}
	reg.MustRegister(m.polls, m.docs)
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
