package runtime

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/runtime/modelset"
)

// metrics are the server's Prometheus metrics, in a registry of its own so
// that several servers can live in one process.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	pluginCall *prometheus.HistogramVec
	cacheReqs  *prometheus.CounterVec
}

// Latency buckets from 100µs to about 13s.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 18)

func newMetrics(set *modelset.Set) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppa_runtime_requests_total",
			Help: "Inference requests by model, protocol (rest, grpc) and outcome code (ok, invalid_argument, not_found, ...). Requests for unknown models count under model \"_unknown\".",
		}, []string{"model", "protocol", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ppa_runtime_request_duration_seconds",
			Help:    "Time to answer an inference request, by model and protocol.",
			Buckets: latencyBuckets,
		}, []string{"model", "protocol"}),
		pluginCall: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ppa_runtime_plugin_call_duration_seconds",
			Help:    "Duration of plugin calls (including waiting for an instance), by plugin, plugin version, method and failure (empty on success or an ABI status).",
			Buckets: latencyBuckets,
		}, []string{"plugin", "plugin_version", "method", "failure"}),
		cacheReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ppa_runtime_forecast_cache_requests_total",
			Help: "Requests that could be answered from a model's cached forecast, by model and result (hit, miss).",
		}, []string{"model", "result"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.pluginCall, m.cacheReqs,
		&setCollector{set: set},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) request(model, protocol string, code errCode, d time.Duration) {
	m.requests.WithLabelValues(model, protocol, code.String()).Inc()
	m.latency.WithLabelValues(model, protocol).Observe(d.Seconds())
}

func (m *metrics) cache(model string, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.cacheReqs.WithLabelValues(model, result).Inc()
}

// observeCall is the engine's observer.
func (m *metrics) observeCall(ci engine.CallInfo) {
	m.pluginCall.WithLabelValues(ci.Plugin, ci.Version, ci.Method, string(ci.Failure)).Observe(ci.Duration.Seconds())
}

// setCollector reports the model set's state at scrape time.
type setCollector struct{ set *modelset.Set }

var (
	descModel = prometheus.NewDesc("ppa_runtime_model_info",
		"1 for every model, labelled with its serving version and plugin (empty while not loaded) and state (LOADING, READY, UNLOADED).",
		[]string{"model", "namespace", "version", "plugin", "plugin_version", "state"}, nil)
	descLoaded = prometheus.NewDesc("ppa_runtime_models_loaded",
		"Number of models with a version serving.", nil, nil)
	descLoads = prometheus.NewDesc("ppa_runtime_model_loads_total",
		"Model versions loaded (the first and every reload), by model.", []string{"model"}, nil)
	descFailures = prometheus.NewDesc("ppa_runtime_model_load_failures_total",
		"Failed attempts to resolve or load a model version, by model.", []string{"model"}, nil)
	descPolicy = prometheus.NewDesc("ppa_runtime_model_policy",
		"1 for every loaded model, labelled with the mode of its serving version's scaling policy: predictive, reactive (no candidate beat the HPA on the history; the scaler serves the current value), or invalid (missing or corrupt: the scaler falls back as for a missing forecast).",
		[]string{"model", "mode"}, nil)
	descPolicyBenefit = prometheus.NewDesc("ppa_runtime_model_policy_benefit",
		"What the serving version's predictive policy achieved on its training history, at equal replica-hours against the HPA: measure gap_closed (share of the reactive → oracle gap in under-provisioned minutes), pooled_gap_closed, underprovisioned_ratio, replica_hours_ratio, lead_mae, persistence_mae.",
		[]string{"model", "measure"}, nil)
	descFallbacks = prometheus.NewDesc("ppa_runtime_model_fallbacks_total",
		"Times an older version of a model was loaded because the version that should serve failed to load while none was serving, by model.", []string{"model"}, nil)
	descFallback = prometheus.NewDesc("ppa_runtime_model_fallback",
		"1 while a model serves an older version because the version that should serve (failed_version) does not load; the log says why.",
		[]string{"model", "version", "failed_version"}, nil)
	descReady = prometheus.NewDesc("ppa_runtime_ready",
		"1 when every model is loaded (the readiness endpoint says ready).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *setCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descModel, descLoaded, descLoads, descFailures, descFallbacks, descFallback, descReady, descPolicy, descPolicyBenefit} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *setCollector) Collect(ch chan<- prometheus.Metric) {
	loaded := 0
	for _, st := range c.set.Statuses() {
		if st.State == modelset.StateReady {
			loaded++
		}
		ch <- prometheus.MustNewConstMetric(descModel, prometheus.GaugeValue, 1,
			st.Name, st.Ref.Namespace, st.Version, st.Plugin, st.PluginVersion, st.State.String())
		ch <- prometheus.MustNewConstMetric(descLoads, prometheus.CounterValue, float64(st.Loads), st.Name)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(st.Failures), st.Name)
		ch <- prometheus.MustNewConstMetric(descFallbacks, prometheus.CounterValue, float64(st.Fallbacks), st.Name)
		if st.FallbackFrom != "" && st.State == modelset.StateReady {
			ch <- prometheus.MustNewConstMetric(descFallback, prometheus.GaugeValue, 1, st.Name, st.Version, st.FallbackFrom)
		}
		if m, _ := c.set.Get(st.Name); m != nil {
			collectPolicy(ch, m)
		}
	}
	ch <- prometheus.MustNewConstMetric(descLoaded, prometheus.GaugeValue, float64(loaded))
	ready := 0.0
	if c.set.Ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, ready)
}

// collectPolicy reports a loaded model's policy mode and measured benefit.
func collectPolicy(ch chan<- prometheus.Metric, m *modelset.Model) {
	p, _, err := m.Policy()
	mode := "invalid"
	if err == nil {
		mode = string(p.Mode)
	}
	ch <- prometheus.MustNewConstMetric(descPolicy, prometheus.GaugeValue, 1, m.Name, mode)
	if err != nil || p.Mode != policy.ModePredictive || p.Benefit == nil {
		return
	}
	b := p.Benefit
	for _, v := range []struct {
		name string
		v    float64
	}{
		{"gap_closed", b.GapClosed}, {"pooled_gap_closed", b.PooledGapClosed},
		{"underprovisioned_ratio", b.UnderprovisionedRatio}, {"replica_hours_ratio", b.ReplicaHoursRatio},
		{"lead_mae", b.LeadMAE}, {"persistence_mae", b.PersistenceMAE},
	} {
		ch <- prometheus.MustNewConstMetric(descPolicyBenefit, prometheus.GaugeValue, v.v, m.Name, v.name)
	}
}
