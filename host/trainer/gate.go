package trainer

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/ppa-autoscaler/ppa/host/store"
)

// Keys of the limits recorded in a manifest's gate.
const (
	LimitMaxMASE     = "max_mase"
	LimitMaxSMAPE    = "max_smape"
	LimitMaxMAPE     = "max_mape"
	LimitMinCoverage = "min_coverage"
)

// limit is one active limit of the gate.
type limit struct {
	key    string // in Gate.Limits
	metric string // in the metrics
	value  float64
	min    bool // a lower bound (coverage) rather than an upper one
}

func (g GateLimits) active() []limit {
	var ls []limit
	for _, l := range []limit{
		{LimitMaxMASE, "mase", g.MaxMASE, false},
		{LimitMaxSMAPE, "smape", g.MaxSMAPE, false},
		{LimitMaxMAPE, "mape", g.MaxMAPE, false},
		{LimitMinCoverage, "coverage", g.MinCoverage, true},
	} {
		if l.value > 0 {
			ls = append(ls, l)
		}
	}
	return ls
}

// errorMetrics are the plain error measures: when one of them is not
// finite the errors overflowed, and every metric derived from them (a MASE
// of 0 against an infinite scale, say) is meaningless.
var errorMetrics = []string{"mae", "rmse", "mse"}

// judge holds the hold-out metrics to the limits. A metric that is not
// defined (NaN) or not finite fails its limit, and any limit fails when the
// errors themselves overflowed: the gate cannot vouch for what it cannot
// measure.
func judge(m store.Metrics, g GateLimits) store.Gate {
	ls := g.active()
	if len(ls) == 0 {
		return store.Gate{Accepted: true, Reason: "no quality limits set"}
	}
	limits := store.Metrics{}
	var failed, passed []string
	for _, k := range errorMetrics {
		if v, ok := m[k]; ok && math.IsInf(v, 0) {
			failed = append(failed, fmt.Sprintf("%s is %s on the hold-out: the errors overflow, no metric can be trusted", k, num(v)))
		}
	}
	for _, l := range ls {
		limits[l.key] = l.value
		v, ok := m[l.metric]
		op, bad := "<=", "above"
		if l.min {
			op, bad = ">=", "below"
		}
		switch {
		case !ok || math.IsNaN(v):
			failed = append(failed, fmt.Sprintf("%s is undefined on the hold-out (limit %s %s)", l.metric, op, num(l.value)))
		case math.IsInf(v, 0):
			failed = append(failed, fmt.Sprintf("%s is %s on the hold-out, not a finite number (limit %s %s)", l.metric, num(v), op, num(l.value)))
		case l.min && v < l.value, !l.min && v > l.value:
			failed = append(failed, fmt.Sprintf("%s %s is %s the limit %s", l.metric, num(v), bad, num(l.value)))
		default:
			passed = append(passed, fmt.Sprintf("%s %s %s %s", l.metric, num(v), op, num(l.value)))
		}
	}
	if len(failed) > 0 {
		return store.Gate{Accepted: false, Reason: "rejected: " + strings.Join(failed, "; "), Limits: limits}
	}
	return store.Gate{Accepted: true, Reason: "accepted: " + strings.Join(passed, ", "), Limits: limits}
}

// num formats a metric for people: 4 significant digits.
func num(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// formatMetrics renders metrics as "mase=0.93 smape=0.21 ...", sorted.
func formatMetrics(m store.Metrics) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + num(m[k])
	}
	return strings.Join(parts, " ")
}
