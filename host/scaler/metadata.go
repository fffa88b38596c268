package scaler

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/decision"
)

// Trigger metadata keys of a ScaledObject's external trigger. Every key and
// its default is documented in the README ("KEDA trigger metadata").
const (
	KeyModelName         = "modelName"
	KeyModelNamespace    = "modelNamespace"
	KeyTargetValue       = "targetValue"
	KeyHorizon           = "horizon"
	KeyAggregation       = "aggregation"
	KeyBound             = "bound"
	KeyActivationValue   = "activationValue"
	KeyMode              = "mode"
	KeyReactiveQuery     = "reactiveQuery"
	KeyPrometheusAddress = "prometheusAddress"
	KeyMaxForecastAge    = "maxForecastAge"
	KeyRuntimeAddress    = "runtimeAddress"
	KeyAnchor            = "anchor"
	KeyAnchorHalfLife    = "anchorHalfLife"
)

// Mode says whether the scaler steers the workload.
type Mode string

// Modes.
const (
	// ModeActive returns the forecast-based value.
	ModeActive Mode = "active"
	// ModeForecastOnly computes and exports the forecast but returns the
	// reactive value (a dry run).
	ModeForecastOnly Mode = "forecastOnly"
)

// Defaults of optional metadata.
const (
	DefaultHorizon        = 5 * time.Minute
	DefaultMaxForecastAge = 10 * time.Minute
	// MaxHorizon bounds the lead time a trigger may ask for.
	MaxHorizon = 24 * time.Hour
)

// Trigger is a ScaledObject's trigger metadata, parsed and validated once.
type Trigger struct {
	// ScaledObject is "namespace/name" of the ScaledObject (for metrics).
	ScaledObject string
	// ModelNamespace and ModelName name the Model to ask.
	ModelNamespace, ModelName string
	// TargetValue is the metric value one replica handles (HPA AverageValue).
	TargetValue float64
	// Horizon is the lead time: the forecast is read over [now, now+Horizon].
	Horizon time.Duration
	// Aggregation and Bound select the value from the forecast.
	Aggregation decision.Aggregation
	Bound       decision.Bound
	// ActivationValue: the scaler is active when the value exceeds it.
	ActivationValue float64
	// Mode is active or forecastOnly.
	Mode Mode
	// ReactiveQuery (PromQL) and PrometheusAddress configure the reactive
	// floor: the served value is max(forecast, current).
	ReactiveQuery, PrometheusAddress string
	// MaxForecastAge: an older forecast is stale and not used.
	MaxForecastAge time.Duration
	// RuntimeAddress overrides the runtime endpoint for this trigger.
	RuntimeAddress string
	// Anchor shifts the forecast by the current residual, current value −
	// forecast at now, before it is read (decision.Options.Anchor). The
	// current value comes from ReactiveQuery, which it therefore requires.
	Anchor bool
	// AnchorHalfLife fades the anchoring shift out ahead of now
	// (decision.Options.AnchorHalfLife); zero keeps the full shift.
	AnchorHalfLife time.Duration
	// Learned is true when the trigger sets none of the decision keys
	// (aggregation, bound, anchor, anchorHalfLife): the rules then come
	// from the scaling policy the trainer learned and the runtime serves
	// with the forecast. Any decision key replaces the whole policy with
	// the trigger's rules.
	Learned bool
}

// DecisionKeys are the trigger keys that replace the learned policy.
var DecisionKeys = []string{KeyAggregation, KeyBound, KeyAnchor, KeyAnchorHalfLife}

// HasFloor reports whether a reactive value is configured.
func (t *Trigger) HasFloor() bool { return t.ReactiveQuery != "" }

// ModelKey is "namespace/name".
func (t *Trigger) ModelKey() string { return t.ModelNamespace + "/" + t.ModelName }

// MetricName is the metric name reported to KEDA for this trigger.
func (t *Trigger) MetricName() string { return MetricName(t.ModelNamespace, t.ModelName) }

var unsafeMetricChars = regexp.MustCompile(`[^a-zA-Z0-9-]+`)

// MetricName builds the external metric name for a model: "ppa-<ns>-<name>",
// reduced to characters valid in a Kubernetes metric name.
func MetricName(namespace, name string) string {
	return strings.ToLower(unsafeMetricChars.ReplaceAllString("ppa-"+namespace+"-"+name, "-"))
}

// ParseTrigger parses trigger metadata. defaultNamespace is the
// ScaledObject's namespace. Errors name the offending key.
func ParseTrigger(scaledObject, defaultNamespace string, md map[string]string) (*Trigger, error) {
	t := &Trigger{
		ScaledObject:   scaledObject,
		ModelNamespace: defaultNamespace,
		Horizon:        DefaultHorizon,
		Aggregation:    decision.AggMax,
		Bound:          decision.BoundYhat,
		Mode:           ModeActive,
		MaxForecastAge: DefaultMaxForecastAge,
	}
	get := func(k string) (string, bool) {
		v, ok := md[k]
		return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
	}
	var ok bool
	if t.ModelName, ok = get(KeyModelName); !ok {
		return nil, fmt.Errorf("metadata %q is required", KeyModelName)
	}
	if v, ok := get(KeyModelNamespace); ok {
		t.ModelNamespace = v
	}
	if t.ModelNamespace == "" {
		return nil, fmt.Errorf("metadata %q is required when the ScaledObject's namespace is unknown", KeyModelNamespace)
	}
	v, ok := get(KeyTargetValue)
	if !ok {
		return nil, fmt.Errorf("metadata %q is required: the metric value one replica handles", KeyTargetValue)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("metadata %q: %q is not a positive number", KeyTargetValue, v)
	}
	t.TargetValue = f
	if v, ok := get(KeyHorizon); ok {
		if t.Horizon, err = parseLeadTime(v); err != nil {
			return nil, fmt.Errorf("metadata %q: %w", KeyHorizon, err)
		}
	}
	if t.Aggregation, err = decision.ParseAggregation(md[KeyAggregation]); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", KeyAggregation, err)
	}
	if t.Bound, err = decision.ParseBound(md[KeyBound]); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", KeyBound, err)
	}
	if v, ok := get(KeyActivationValue); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("metadata %q: %q is not a number", KeyActivationValue, v)
		}
		t.ActivationValue = f
	}
	if v, ok := get(KeyMode); ok {
		switch {
		case strings.EqualFold(v, string(ModeActive)):
			t.Mode = ModeActive
		case strings.EqualFold(v, string(ModeForecastOnly)):
			t.Mode = ModeForecastOnly
		default:
			return nil, fmt.Errorf("metadata %q: %q is not one of active, forecastOnly", KeyMode, v)
		}
	}
	t.ReactiveQuery, _ = get(KeyReactiveQuery)
	t.PrometheusAddress, _ = get(KeyPrometheusAddress)
	if v, ok := get(KeyMaxForecastAge); ok {
		if t.MaxForecastAge, err = abi.ParseDuration(v); err != nil || t.MaxForecastAge <= 0 {
			return nil, fmt.Errorf("metadata %q: %q is not a positive duration", KeyMaxForecastAge, v)
		}
	}
	t.RuntimeAddress, _ = get(KeyRuntimeAddress)
	if v, ok := get(KeyAnchor); ok {
		switch {
		case strings.EqualFold(v, "true"):
			t.Anchor = true
		case strings.EqualFold(v, "false"):
		default:
			return nil, fmt.Errorf("metadata %q: %q is not true or false", KeyAnchor, v)
		}
	}
	if v, ok := get(KeyAnchorHalfLife); ok {
		if t.AnchorHalfLife, err = abi.ParseDuration(v); err != nil || t.AnchorHalfLife < 0 {
			return nil, fmt.Errorf("metadata %q: %q is not a duration of 0 or more", KeyAnchorHalfLife, v)
		}
	}
	t.Learned = true
	for _, k := range DecisionKeys {
		if _, ok := get(k); ok {
			t.Learned = false
		}
	}
	return t, t.Validate()
}

// Validate checks rules that span several keys.
func (t *Trigger) Validate() error {
	if t.Horizon <= 0 || t.Horizon > MaxHorizon {
		return fmt.Errorf("metadata %q: %v is outside (0, %v]", KeyHorizon, t.Horizon, MaxHorizon)
	}
	if (t.ReactiveQuery == "") != (t.PrometheusAddress == "") {
		return fmt.Errorf("metadata %q and %q go together: set both for a reactive floor, or neither", KeyReactiveQuery, KeyPrometheusAddress)
	}
	if t.Anchor && !t.HasFloor() {
		return fmt.Errorf("metadata %q: anchoring shifts the forecast to the current value, so %q and %q are required", KeyAnchor, KeyReactiveQuery, KeyPrometheusAddress)
	}
	if t.AnchorHalfLife > 0 && !t.Anchor {
		return fmt.Errorf("metadata %q applies to anchoring: set %q to true, or leave it out", KeyAnchorHalfLife, KeyAnchor)
	}
	if t.Mode == ModeForecastOnly && !t.HasFloor() {
		return fmt.Errorf("metadata %q: forecastOnly returns the reactive value, so %q and %q are required", KeyMode, KeyReactiveQuery, KeyPrometheusAddress)
	}
	return nil
}

// parseLeadTime accepts a duration ("5m", "90s", "1h") or a bare integer,
// which means minutes (as the seed project's ScaledObjects wrote it).
func parseLeadTime(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("%q minutes is not positive", v)
		}
		return time.Duration(n) * time.Minute, nil
	}
	d, err := abi.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is neither a duration (5m, 90s) nor a whole number of minutes", v)
	}
	return d, nil
}

// Options returns the decision rules this trigger asks for.
func (t *Trigger) Options() decision.Options {
	return decision.Options{
		Aggregation:    t.Aggregation,
		Bound:          t.Bound,
		Horizon:        t.Horizon,
		ReactiveFloor:  t.HasFloor(),
		MaxForecastAge: t.MaxForecastAge,
		Anchor:         t.Anchor,
		AnchorHalfLife: t.AnchorHalfLife,
	}
}
