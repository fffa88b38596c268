package trainer

import (
	"math"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/host/store"
)

// TestJudgeNonFinite holds metrics that are not finite to the limits: an
// overflowing error or an infinite metric is a rejection with the reason,
// never a pass (a MASE of 0 against an infinite naive scale used to pass).
func TestJudgeNonFinite(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		name     string
		m        store.Metrics
		g        GateLimits
		accepted bool
		reason   []string
	}{
		{"finite passes", store.Metrics{"mae": 1, "rmse": 1, "mse": 1, "mase": 0.4}, GateLimits{MaxMASE: 0.5}, true,
			[]string{"accepted", "mase 0.4 <= 0.5"}},
		{"overflowing errors, MASE 0", store.Metrics{"mae": inf, "rmse": inf, "mse": inf, "mase": 0}, GateLimits{MaxMASE: 0.5}, false,
			[]string{"rejected", "mae is +Inf on the hold-out", "errors overflow"}},
		{"infinite MSE only", store.Metrics{"mae": 1e300, "rmse": inf, "mse": inf, "mase": 0.1, "smape": 0.1}, GateLimits{MaxSMAPE: 0.5}, false,
			[]string{"rmse is +Inf"}},
		{"MASE of -Inf", store.Metrics{"mae": 1, "mase": math.Inf(-1)}, GateLimits{MaxMASE: 0.5}, false,
			[]string{"mase is -Inf on the hold-out, not a finite number"}},
		{"MASE of +Inf", store.Metrics{"mae": 1, "mase": inf}, GateLimits{MaxMASE: 0.5}, false,
			[]string{"mase is +Inf"}},
		{"MASE NaN", store.Metrics{"mae": 1, "mase": math.NaN()}, GateLimits{MaxMASE: 0.5}, false,
			[]string{"mase is undefined"}},
		{"no limits", store.Metrics{"mae": inf}, GateLimits{}, true, []string{"no quality limits"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := judge(c.m, c.g)
			if g.Accepted != c.accepted {
				t.Fatalf("accepted %v, want %v: %s", g.Accepted, c.accepted, g.Reason)
			}
			for _, w := range c.reason {
				if !strings.Contains(g.Reason, w) {
					t.Errorf("reason %q lacks %q", g.Reason, w)
				}
			}
			if !c.accepted && g.Limits[LimitMaxMASE] != c.g.MaxMASE {
				t.Errorf("limits %v: want the limits recorded", g.Limits)
			}
		})
	}
}
