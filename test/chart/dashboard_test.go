package chart

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"

	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/scaler"
	"github.com/ppa-autoscaler/ppa/internal/teststore"
)

// dashboardFile is the Grafana dashboard the chart ships.
const dashboardFile = "dashboards/ppa.json"

// query is one PromQL expression of the dashboard and where it is.
type query struct{ where, expr string }

// dashboardQueries returns every PromQL expression of the dashboard: the
// panels' targets and the template variables' queries.
func dashboardQueries(t *testing.T, raw []byte) []query {
	t.Helper()
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				RefID string `json:"refId"`
				Expr  string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string          `json:"name"`
				Type  string          `json:"type"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var out []query
	for _, p := range d.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s: empty expr", p.Title, tg.RefID)
			}
			out = append(out, query{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	// label_values(METRIC, LABEL) is Grafana's, not PromQL: its metric
	// is checked as the selector METRIC.
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable %s: query %s: %v", v.Name, v.Query, err)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable %s: query %q is not label_values(METRIC, LABEL)", v.Name, q.Query)
		}
		out = append(out, query{"variable " + v.Name, m[1]})
	}
	return out
}

// grafanaVars replaces Grafana's interval variables, which PromQL cannot
// parse, with a duration; variables inside label values stay as they are.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// metricNames returns the metric names an expression selects.
func metricNames(t *testing.T, q query) []string {
	t.Helper()
	expr, err := parser.ParseExpr(grafanaVars.Replace(q.expr))
	if err != nil {
		t.Fatalf("%s: %q is not PromQL: %v", q.where, q.expr, err)
	}
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					name = m.Value
				}
			}
			names = append(names, name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("%s: %q selects no metric", q.where, q.expr)
	}
	return names
}

// recorder is a prometheus.Registerer that keeps what is registered.
type recorder struct{ collectors []prometheus.Collector }

func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

var descName = regexp.MustCompile(`fqName: "([^"]+)"`)

// scalerMetrics are the names of the series the scaler registers: all of
// them, described, whether or not an evaluation has set them yet.
func scalerMetrics(t *testing.T) map[string]bool {
	t.Helper()
	var rec recorder
	scaler.NewMetrics(&rec)
	names := map[string]bool{}
	ch := make(chan *prometheus.Desc, 64)
	for _, c := range rec.collectors {
		c.Describe(ch)
	}
	close(ch)
	for d := range ch {
		m := descName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		names[m[1]] = true
	}
	if len(names) == 0 {
		t.Fatal("the scaler registered no metric")
	}
	return names
}

// runtimeMetrics starts a runtime serving a model whose version has a
// learned predictive policy with its measured benefit, answers one
// inference, and returns the names on its /metrics (a histogram's also
// with _bucket, _sum and _count).
func runtimeMetrics(t *testing.T) map[string]bool {
	t.Helper()
	pol, err := json.Marshal(policy.Policy{Mode: policy.ModePredictive, Reason: "dashboard test", Forecaster: "seasonal-naive",
		Decision: &policy.Decision{Aggregation: "max", Bound: "yhat", ReactiveFloor: true},
		Benefit:  &policy.Benefit{GapClosed: 0.5, PooledGapClosed: 0.4, UnderprovisionedRatio: 0.3, ReplicaHoursRatio: 1, LeadMAE: 2, PersistenceMAE: 3}})
	if err != nil {
		t.Fatal(err)
	}
	srv := teststore.ServeSeasonalNaive(t, pol)
	base := "http://" + srv.HTTPAddr()
	body := `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[600]},{"name":"start","shape":[1],"datatype":"INT64","data":[1772409600]}]}`
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Post(base+"/v2/models/cpu/infer", "application/json", strings.NewReader(body))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("runtime answered no inference within a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	names := map[string]bool{}
	for name, f := range families {
		names[name] = true
		if f.GetType().String() == "HISTOGRAM" || f.GetType().String() == "SUMMARY" {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				names[name+s] = true
			}
		}
	}
	return names
}

// TestDashboardQueriesNameExportedMetrics parses every query of the
// dashboard and checks that each metric it names is one the scaler or the
// runtime really exports, and that the required panels are there.
func TestDashboardQueriesNameExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir(t), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	exported := scalerMetrics(t)
	for name := range runtimeMetrics(t) {
		exported[name] = true
	}
	used := map[string]bool{}
	for _, q := range dashboardQueries(t, raw) {
		for _, name := range metricNames(t, q) {
			used[name] = true
			if !exported[name] {
				var ppa []string
				for n := range exported {
					if strings.HasPrefix(n, "ppa_") {
						ppa = append(ppa, n)
					}
				}
				sort.Strings(ppa)
				t.Errorf("%s: metric %s is not exported by the scaler or the runtime (they export %s)", q.where, name, strings.Join(ppa, ", "))
			}
		}
	}
	// The panels the dashboard is for.
	for _, name := range []string{
		"ppa_scaler_forecast_value", "ppa_scaler_reactive_value", "ppa_scaler_served_value",
		"ppa_scaler_forecast_age_seconds", "ppa_scaler_policy", "ppa_runtime_model_info",
		"ppa_runtime_model_policy", "ppa_runtime_model_policy_benefit",
	} {
		if !used[name] {
			t.Errorf("no query uses %s", name)
		}
	}
}

// TestDashboardConfigMap renders the chart with the dashboard on and
// checks the ConfigMap the Grafana sidecar looks for: its label, and the
// dashboard file as its data.
func TestDashboardConfigMap(t *testing.T) {
	if objs := render(t); slices.ContainsFunc(objs, func(o object) bool { return o.Kind == "ConfigMap" }) {
		t.Fatal("the default values render a dashboard ConfigMap; it is opt-in")
	}
	objs := render(t, "--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.annotations.grafana_folder=PPA")
	o := find(t, objs, "ConfigMap", "ppa-grafana-dashboard")
	var cm corev1.ConfigMap
	decode(t, o, &cm)
	if cm.Labels["grafana_dashboard"] != "1" || cm.Annotations["grafana_folder"] != "PPA" || cm.Namespace != namespace {
		t.Errorf("ConfigMap labels %v, annotations %v, namespace %q", cm.Labels, cm.Annotations, cm.Namespace)
	}
	want, err := os.ReadFile(filepath.Join(chartDir(t), dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["ppa.json"]; strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
		t.Errorf("ConfigMap data ppa.json differs from %s (%d bytes, want %d)", dashboardFile, len(got), len(want))
	}
}
