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
	policyMode    *prometheus.GaugeVec
	errors        *prometheus.CounterVec
}

// policyModes are the values of the policy gauge's mode label.
var policyModes = []string{"predictive", "reactive", "invalid", "trigger"}

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
		policyMode: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ppa", Subsystem: "scaler", Name: "policy",
			Help: "1 for the rules the last evaluation used, by mode: predictive (the learned policy), reactive (the learned policy serves the current value), invalid (no usable policy: the fallback of a missing forecast), trigger (the trigger's decision keys replace the policy); 0 for the others."},
			[]string{"scaledobject", "model", "mode"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ppa", Subsystem: "scaler", Name: "errors_total",
			Help: "Evaluation problems by reason (runtime_error, runtime_timeout, model_not_found, no_endpoint, stale, no_forecast, no_interval, no_current, no_policy, prometheus).",
		}, []string{"scaledobject", "model", "reason"}),
	}
	reg.MustRegister(m.forecastValue, m.reactiveValue, m.servedValue, m.age, m.policyMode, m.errors)
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

func (m *Metrics) policy(t *Trigger, mode string) {
	if m == nil {
		return
	}
	for _, md := range policyModes {
		v := 0.0
		if md == mode {
			v = 1
		}
		m.policyMode.WithLabelValues(t.ScaledObject, t.ModelKey(), md).Set(v)
	}
}
