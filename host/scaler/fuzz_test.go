package scaler

import (
	"testing"
	"unicode/utf8"
)

// FuzzParseTrigger parses arbitrary KEDA trigger metadata: it is refused
// with a bounded error naming a key, or accepted within every documented
// limit.
func FuzzParseTrigger(f *testing.F) {
	f.Add("web", "shop", "100", "5m", "reactiveQuery", "up")
	f.Add("web.v2", "", "1e15", "7", "aggregation", "mean")
	f.Add("ä…", "shöp", "1e300", "4611686018427387904", "anchorHalfLife", "5m")
	f.Add("a", "b", "0.5", "24h", "maxForecastAge", "1d")
	f.Fuzz(func(t *testing.T, name, ns, target, horizon, key, value string) {
		md := map[string]string{KeyModelName: name, KeyTargetValue: target, KeyHorizon: horizon, key: value}
		if ns != "" {
			md[KeyModelNamespace] = ns
		}
		tr, err := ParseTrigger("shop/so", "default", md)
		if err != nil {
			if len(err.Error()) > 2048 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		switch {
		case len(tr.ModelName) > MaxModelNameLength || len(tr.ModelNamespace) > 63:
			t.Fatalf("accepted a name of %d bytes in a namespace of %d", len(tr.ModelName), len(tr.ModelNamespace))
		case !utf8.ValidString(tr.ModelKey()) || len(tr.MetricName()) > 4+63+1+MaxModelNameLength:
			t.Fatalf("model key %q, metric name %q", tr.ModelKey(), tr.MetricName())
		case !(tr.TargetValue > 0 && tr.TargetValue <= MaxTargetValue):
			t.Fatalf("accepted targetValue %v", tr.TargetValue)
		case tr.Horizon <= 0 || tr.Horizon > MaxHorizon:
			t.Fatalf("accepted horizon %v", tr.Horizon)
		case ceilInt64(tr.TargetValue) < 1:
			t.Fatalf("targetSize %d", ceilInt64(tr.TargetValue))
		}
		for _, r := range tr.ModelKey() {
			if r > 127 {
				t.Fatalf("model key %q is not ASCII", tr.ModelKey())
			}
		}
	})
}
