package scaler

import (
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/host/decision"
)

func TestParseTrigger(t *testing.T) {
	base := func(kv ...string) map[string]string {
		m := map[string]string{"modelName": "web", "targetValue": "100"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		md      map[string]string
		ns      string
		check   func(*testing.T, *Trigger)
		wantErr string
	}{
		{name: "defaults", md: base(), ns: "shop", check: func(t *testing.T, tr *Trigger) {
			if tr.ModelKey() != "shop/web" || tr.TargetValue != 100 || tr.Horizon != 5*time.Minute ||
				tr.Aggregation != decision.AggMax || tr.Bound != decision.BoundYhat || tr.Mode != ModeActive ||
				tr.MaxForecastAge != DefaultMaxForecastAge || tr.HasFloor() {
				t.Fatalf("trigger = %+v", tr)
			}
			if tr.MetricName() != "ppa-shop-web" {
				t.Fatalf("metric name %q", tr.MetricName())
			}
		}},
		{name: "bare integer horizon is minutes", md: base("horizon", "7"), ns: "a", check: func(t *testing.T, tr *Trigger) {
			if tr.Horizon != 7*time.Minute {
				t.Fatalf("horizon %v", tr.Horizon)
			}
		}},
		{name: "duration horizon", md: base("horizon", "90s", "aggregation", "Mean", "bound", "upper", "modelNamespace", "ml"), ns: "a", check: func(t *testing.T, tr *Trigger) {
			if tr.Horizon != 90*time.Second || tr.Aggregation != decision.AggMean || tr.Bound != decision.BoundUpper || tr.ModelNamespace != "ml" {
				t.Fatalf("trigger %+v", tr)
			}
		}},
		{name: "floor and forecastOnly", md: base("mode", "forecastOnly", "reactiveQuery", "sum(rate(x[1m]))", "prometheusAddress", "http://p:9090"), ns: "a", check: func(t *testing.T, tr *Trigger) {
			if tr.Mode != ModeForecastOnly || !tr.HasFloor() || !tr.Options().ReactiveFloor {
				t.Fatalf("trigger %+v", tr)
			}
		}},
		{name: "anchor", md: base("anchor", "TRUE", "reactiveQuery", "up", "prometheusAddress", "http://p:9090"), ns: "a", check: func(t *testing.T, tr *Trigger) {
			if o := tr.Options(); !tr.Anchor || !o.Anchor || !o.ReactiveFloor || o.AnchorHalfLife != 0 {
				t.Fatalf("trigger %+v, options %+v", tr, o)
			}
		}},
		{name: "anchor false", md: base("anchor", "false"), ns: "a", check: func(t *testing.T, tr *Trigger) {
			if tr.Anchor || tr.Options().Anchor {
				t.Fatalf("trigger %+v", tr)
			}
		}},
		{name: "anchor off by default", md: base("reactiveQuery", "up", "prometheusAddress", "http://p:9090"), ns: "a", check: func(t *testing.T, tr *Trigger) {
			if tr.Anchor || tr.Options().Anchor {
				t.Fatalf("trigger %+v", tr)
			}
		}},
		{name: "anchor half-life", md: base("anchor", "true", "anchorHalfLife", "5m", "reactiveQuery", "up", "prometheusAddress", "http://p:9090"), ns: "a", check: func(t *testing.T, tr *Trigger) {
			if o := tr.Options(); !o.Anchor || o.AnchorHalfLife != 5*time.Minute {
				t.Fatalf("options %+v", o)
			}
		}},
		{name: "anchor half-life without anchor", md: base("anchorHalfLife", "5m", "reactiveQuery", "up", "prometheusAddress", "http://p:9090"), ns: "a", wantErr: `metadata "anchorHalfLife" applies to anchoring: set "anchor" to true`},
		{name: "bad anchor half-life", md: base("anchor", "true", "anchorHalfLife", "-5m", "reactiveQuery", "up", "prometheusAddress", "http://p:9090"), ns: "a", wantErr: `metadata "anchorHalfLife": "-5m" is not a duration`},
		{name: "anchor not a boolean", md: base("anchor", "yes", "reactiveQuery", "up", "prometheusAddress", "http://p:9090"), ns: "a", wantErr: `metadata "anchor": "yes" is not true or false`},
		{name: "anchor without floor", md: base("anchor", "true"), ns: "a", wantErr: `metadata "anchor": anchoring shifts the forecast to the current value, so "reactiveQuery" and "prometheusAddress" are required`},
		{name: "missing model", md: map[string]string{"targetValue": "1"}, ns: "a", wantErr: `metadata "modelName" is required`},
		{name: "missing target", md: map[string]string{"modelName": "x"}, ns: "a", wantErr: `metadata "targetValue" is required`},
		{name: "zero target", md: base("targetValue", "0"), ns: "a", wantErr: `metadata "targetValue": "0" is not a positive number`},
		{name: "text target", md: base("targetValue", "lots"), ns: "a", wantErr: `metadata "targetValue"`},
		{name: "bad horizon", md: base("horizon", "soon"), ns: "a", wantErr: `metadata "horizon": "soon" is neither a duration`},
		{name: "negative horizon", md: base("horizon", "-3"), ns: "a", wantErr: `metadata "horizon"`},
		{name: "huge horizon", md: base("horizon", "30d"), ns: "a", wantErr: `metadata "horizon": 720h0m0s is outside`},
		{name: "unknown aggregation", md: base("aggregation", "median"), ns: "a", wantErr: `metadata "aggregation": aggregation "median"`},
		{name: "unknown bound", md: base("bound", "p99"), ns: "a", wantErr: `metadata "bound"`},
		{name: "unknown mode", md: base("mode", "yolo"), ns: "a", wantErr: `metadata "mode"`},
		{name: "bad activation", md: base("activationValue", "x"), ns: "a", wantErr: `metadata "activationValue"`},
		{name: "bad age", md: base("maxForecastAge", "0s"), ns: "a", wantErr: `metadata "maxForecastAge"`},
		{name: "query without address", md: base("reactiveQuery", "up"), ns: "a", wantErr: `"reactiveQuery" and "prometheusAddress" go together`},
		{name: "forecastOnly without floor", md: base("mode", "forecastOnly"), ns: "a", wantErr: `forecastOnly returns the reactive value`},
		{name: "no namespace", md: base(), ns: "", wantErr: `metadata "modelNamespace" is required`},
		// Names reach metric labels and logs: bounded, and Kubernetes
		// names only (non-ASCII names used to collide as "ppa-default--").
		{name: "10 KB model name", md: base("modelName", strings.Repeat("a", 10000)), ns: "a", wantErr: `metadata "modelName": 10009 bytes`},
		{name: "2 KB model name", md: base("modelName", strings.Repeat("a", 2000)), ns: "a", wantErr: `metadata "modelName": "aaaa`},
		{name: "non-ASCII model name", md: base("modelName", "ä…"), ns: "a", wantErr: `metadata "modelName": "ä…" is not a Kubernetes object name`},
		{name: "upper-case model name", md: base("modelName", "Web"), ns: "a", wantErr: `is not a Kubernetes object name`},
		{name: "model name of 129 bytes", md: base("modelName", strings.Repeat("a", 129)), ns: "a", wantErr: `129 bytes, more than the limit of 128`},
		{name: "non-ASCII namespace", md: base("modelNamespace", "shöp"), ns: "a", wantErr: `metadata "modelNamespace": "shöp" is not a Kubernetes namespace`},
		{name: "10 KB namespace", md: base("modelNamespace", strings.Repeat("n", 10000)), ns: "a", wantErr: `metadata "modelNamespace"`},
		{name: "10 KB query", md: base("reactiveQuery", strings.Repeat("q", 10000), "prometheusAddress", "http://p:9090"), ns: "a", wantErr: `more than the limit of 4096`},
		{name: "target of 1e300", md: base("targetValue", "1e300"), ns: "a", wantErr: `metadata "targetValue": "1e300" is more than the limit of 1e+15`},
		{name: "horizon of 2^62 minutes", md: base("horizon", "4611686018427387904"), ns: "a", wantErr: `metadata "horizon": "4611686018427387904" minutes is more than the limit`},
		{name: "dotted model name", md: base("modelName", "web.v2"), ns: "a", check: func(t *testing.T, tr *Trigger) {
			if tr.ModelName != "web.v2" {
				t.Fatalf("trigger %+v", tr)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := ParseTrigger("ns/so", tc.ns, tc.md)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, tr)
		})
	}
}
