package scaler

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

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

// Limits on trigger metadata: a peer's input reaches metric labels, logs
// and errors, so its size is bounded.
const (
	// MaxModelNameLength bounds modelName: a Kubernetes object name that
	// the model store also accepts (its limit is 128).
	MaxModelNameLength = 128
	// MaxValueLength bounds any metadata value (a PromQL query included).
	MaxValueLength = 4096
	// MaxTargetValue bounds targetValue, so that the integer target KEDA
	// receives (its ceiling) is exact and cannot overflow.
	MaxTargetValue = 1e15
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
	for k, v := range md {
		if len(k) > MaxValueLength || len(v) > MaxValueLength {
			return nil, fmt.Errorf("metadata %s: %d bytes of key and value, more than the limit of %d", quoteValue(k), len(k)+len(v), MaxValueLength)
		}
	}
	var ok bool
	if t.ModelName, ok = get(KeyModelName); !ok {
		return nil, fmt.Errorf("metadata %q is required", KeyModelName)
	}
	if err := ValidateModelName(t.ModelName); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", KeyModelName, err)
	}
	if v, ok := get(KeyModelNamespace); ok {
		t.ModelNamespace = v
	}
	if t.ModelNamespace == "" {
		return nil, fmt.Errorf("metadata %q is required when the ScaledObject's namespace is unknown", KeyModelNamespace)
	}
	if err := ValidateNamespace(t.ModelNamespace); err != nil {
		return nil, fmt.Errorf("metadata %q: %w", KeyModelNamespace, err)
	}
	v, ok := get(KeyTargetValue)
	if !ok {
		return nil, fmt.Errorf("metadata %q is required: the metric value one replica handles", KeyTargetValue)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f > 0) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("metadata %q: %s is not a positive number", KeyTargetValue, quoteValue(v))
	}
	if f > MaxTargetValue {
		return nil, fmt.Errorf("metadata %q: %s is more than the limit of %g", KeyTargetValue, quoteValue(v), MaxTargetValue)
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
			return nil, fmt.Errorf("metadata %q: %s is not a number", KeyActivationValue, quoteValue(v))
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
			return nil, fmt.Errorf("metadata %q: %s is not one of active, forecastOnly", KeyMode, quoteValue(v))
		}
	}
	t.ReactiveQuery, _ = get(KeyReactiveQuery)
	t.PrometheusAddress, _ = get(KeyPrometheusAddress)
	if v, ok := get(KeyMaxForecastAge); ok {
		if t.MaxForecastAge, err = abi.ParseDuration(v); err != nil || t.MaxForecastAge <= 0 {
			return nil, fmt.Errorf("metadata %q: %s is not a positive duration", KeyMaxForecastAge, quoteValue(v))
		}
	}
	t.RuntimeAddress, _ = get(KeyRuntimeAddress)
	if v, ok := get(KeyAnchor); ok {
		switch {
		case strings.EqualFold(v, "true"):
			t.Anchor = true
		case strings.EqualFold(v, "false"):
		default:
			return nil, fmt.Errorf("metadata %q: %s is not true or false", KeyAnchor, quoteValue(v))
		}
	}
	if v, ok := get(KeyAnchorHalfLife); ok {
		if t.AnchorHalfLife, err = abi.ParseDuration(v); err != nil || t.AnchorHalfLife < 0 {
			return nil, fmt.Errorf("metadata %q: %s is not a duration of 0 or more", KeyAnchorHalfLife, quoteValue(v))
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
			return 0, fmt.Errorf("%s minutes is not positive", quoteValue(v))
		}
		if n > int64(MaxHorizon/time.Minute) {
			return 0, fmt.Errorf("%s minutes is more than the limit of %v", quoteValue(v), MaxHorizon)
		}
		return time.Duration(n) * time.Minute, nil
	}
	d, err := abi.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s is neither a duration (5m, 90s) nor a whole number of minutes", quoteValue(v))
	}
	return d, nil
}

// ValidateModelName checks a model name: a Kubernetes object name (a
// DNS-1123 subdomain: lower-case ASCII letters, digits, '-' and '.') of at
// most MaxModelNameLength bytes. Anything else could not name a Model, and
// would reach metric labels and logs unbounded, or collide once reduced to
// a metric name.
func ValidateModelName(name string) error {
	if len(name) > MaxModelNameLength {
		return fmt.Errorf("%s: %d bytes, more than the limit of %d", quoteValue(name), len(name), MaxModelNameLength)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return fmt.Errorf("%s is not a Kubernetes object name: %s", quoteValue(name), strings.Join(errs, "; "))
	}
	return nil
}

// ValidateNamespace checks a model namespace: a Kubernetes namespace name
// (a DNS-1123 label of at most 63 bytes).
func ValidateNamespace(ns string) error {
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return fmt.Errorf("%s is not a Kubernetes namespace: %s", quoteValue(ns), strings.Join(errs, "; "))
	}
	return nil
}

// quoteValue quotes a metadata value for a message, clipped to 64 bytes.
func quoteValue(v string) string {
	const max = 64
	if len(v) <= max {
		return strconv.Quote(v)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(v[:cut]), len(v))
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
