package loop

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the autoscaler's Prometheus metrics.
type Metrics struct {
	Unschedulable prometheus.Gauge
	ScaledUp      *prometheus.CounterVec
	ScaledDown    *prometheus.CounterVec
	LastScan      prometheus.Gauge
	Errors        prometheus.Counter
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Unschedulable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubeseed_autoscaler_unschedulable_pods", Help: "Pods the tenant's scheduler marked Unschedulable at the last scan.",
		}),
		ScaledUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubeseed_autoscaler_scaled_up_nodes_total", Help: "Nodes added to a WorkerPool by the autoscaler.",
		}, []string{"pool"}),
		ScaledDown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubeseed_autoscaler_scaled_down_nodes_total", Help: "Nodes removed from a WorkerPool by the autoscaler.",
		}, []string{"pool"}),
		LastScan: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubeseed_autoscaler_last_scan_seconds", Help: "How long the last scan took.",
		}),
		Errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubeseed_autoscaler_errors_total", Help: "Scans that failed (the tenant unreachable, a resize refused).",
		}),
	}
	reg.MustRegister(m.Unschedulable, m.ScaledUp, m.ScaledDown, m.LastScan, m.Errors)
	return m
}
