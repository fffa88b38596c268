package scaler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scaler's Prometheus series, per ScaledObject. A nil
// *Metrics records nothing.
type Metrics struct {
	forecastValue *prometheus.GaugeVec
	reactiveValue *prometheus.GaugeVec
	servedValue   *prometheus.GaugeVec
	age           *prometheus.GaugeVec
	errors        *prometheus.CounterVec
}

// NewMetrics registers the scaler's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	labels := []string{"scaledobject", "model"}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ppa", Subsystem: "scaler", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		forecastValue: gauge("forecast_value", "Forecast-based metric value (aggregated bound over the horizon) last computed."),
		reactiveValue: gauge("reactive_value", "Current value of the reactive query last read."),
		servedValue:   gauge("served_value", "Metric value last returned to KEDA."),
		age:           gauge("forecast_age_seconds", "Age of the cached forecast used by the last evaluation."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ppa", Subsystem: "scaler", Name: "errors_total",
			Help: "Evaluation problems by reason (runtime_error, runtime_timeout, model_not_found, no_endpoint, stale, no_forecast, no_interval, no_current, prometheus).",
		}, []string{"scaledobject", "model", "reason"}),
	}
	reg.MustRegister(m.forecastValue, m.reactiveValue, m.servedValue, m.age, m.errors)
	return m
}

func (m *Metrics) forecast(t *Trigger, v float64) {
	if m != nil {
		m.forecastValue.WithLabelValues(t.ScaledObject, t.ModelKey()).Set(v)
	}
}

func (m *Metrics) reactive(t *Trigger, v float64) {
	if m != nil {
		m.reactiveValue.WithLabelValues(t.ScaledObject, t.ModelKey()).Set(v)
	}
}

func (m *Metrics) served(t *Trigger, v float64) {
	if m != nil {
		m.servedValue.WithLabelValues(t.ScaledObject, t.ModelKey()).Set(v)
	}
}

func (m *Metrics) forecastAge(t *Trigger, d time.Duration) {
	if m != nil {
		m.age.WithLabelValues(t.ScaledObject, t.ModelKey()).Set(d.Seconds())
	}
}

func (m *Metrics) error(t *Trigger, reason string) {
	if m != nil && reason != "" {
		m.errors.WithLabelValues(t.ScaledObject, t.ModelKey(), reason).Inc()
	}
}
