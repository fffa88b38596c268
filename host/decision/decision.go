// Package decision turns a forecast into the metric value PPA hands to KEDA,
// and holds the replica arithmetic the Kubernetes HorizontalPodAutoscaler
// applies to that value. It is the one place where these rules live: the
// KEDA scaler (host/scaler) and the what-if simulator (host/simulate) both
// call it, so that a simulation replays exactly what the scaler would do.
//
// # The decision
//
// A Forecast is a curve of points (timestamp, yhat, lower, upper). At a time
// now, Options.Decide looks at the points inside the closed window
// [now, now+Horizon], takes the configured Bound of each (yhat, upper or
// lower), and aggregates them (max, mean, or the last point of the window).
// A negative aggregate is reported as 0: a metric value is a demand and
// cannot be negative.
//
// A Margin, when set, is added to the aggregate before that clamp.
//
// With ReactiveFloor the value is max(forecast, current), where current is
// the metric's present (reactive) value. The Decision says which arm won.
//
// # Anchoring
//
// A forecast made hours earlier knows the seasonal shape of the demand but
// not where the demand is today. With Anchor and a current value, Decide
// first shifts the whole window by the current residual
//
//	r = current − yhat(now)
//
// so that the forecast keeps its shape but starts from where the metric
// actually is: every point's yhat, lower and upper get r added (times
// 2^(−(t−now)/AnchorHalfLife) when a half-life is set, so that the shift
// fades out ahead; otherwise in full), before the bound is read and
// aggregated. yhat(now) is the forecast's yhat at now itself: the point at
// now when there is one, else the linear interpolation between the last
// point before now and the first point after it. Anchoring is skipped, and
// the Decision says so (AnchorSkipped), when there is no current value or
// when yhat(now) is undefined (the curve starts after now, or a point it
// needs has a NaN yhat); the forecast is then used as it is. Anchoring and
// the reactive floor are independent: with both, the floor compares the
// current value with the anchored forecast.
//
// # Fail-safe
//
// A forecast that is missing, has no point in the window, has no interval
// when a bound needs one, or is older than MaxForecastAge is never turned
// into a number. With ReactiveFloor and a current value, the current value
// is used (Arm is ArmFloor and Decision.ForecastErr says why); otherwise
// Decide returns an error wrapping one of ErrNoForecast, ErrStale,
// ErrNoInterval, so that the caller can report it (KEDA then applies its
// fallback). A missing current value with a usable forecast is not an
// error: the forecast is used alone and Decision.CurrentMissing is set.
package decision

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Aggregation says how the points of the window become one value.
type Aggregation string

// Aggregations.
const (
	// AggMax takes the largest value in the window: capacity for the peak
	// that will arrive before new pods are ready. The default.
	AggMax Aggregation = "max"
	// AggMean takes the arithmetic mean of the window.
	AggMean Aggregation = "mean"
	// AggLast takes the value of the last point of the window (the point
	// nearest now+Horizon).
	AggLast Aggregation = "last"
)

// ParseAggregation parses "max", "mean" or "last" (case-insensitive); an
// empty string gives the default, AggMax.
func ParseAggregation(s string) (Aggregation, error) {
	switch a := Aggregation(strings.ToLower(strings.TrimSpace(s))); a {
	case "":
		return AggMax, nil
	case AggMax, AggMean, AggLast:
		return a, nil
	}
	return "", fmt.Errorf("aggregation %q: want max, mean or last", s)
}

// Bound says which series of the forecast is read.
type Bound string

// Bounds.
const (
	// BoundYhat reads the point forecast. The default.
	BoundYhat Bound = "yhat"
	// BoundUpper reads the upper end of the prediction interval: more
	// capacity, fewer under-provisioned minutes.
	BoundUpper Bound = "upper"
	// BoundLower reads the lower end of the prediction interval.
	BoundLower Bound = "lower"
)

// ParseBound parses "yhat", "upper" or "lower" (case-insensitive); an empty
// string gives the default, BoundYhat.
func ParseBound(s string) (Bound, error) {
	switch b := Bound(strings.ToLower(strings.TrimSpace(s))); b {
	case "":
		return BoundYhat, nil
	case BoundYhat, BoundUpper, BoundLower:
		return b, nil
	}
	return "", fmt.Errorf("bound %q: want yhat, upper or lower", s)
}

// Errors for a forecast that cannot be used. Decide wraps them with the
// details; test with errors.Is. Reason maps them to short labels.
var (
	// ErrNoForecast: there is no forecast, or no usable point of it falls in
	// the window [now, now+Horizon].
	ErrNoForecast = errors.New("no forecast")
	// ErrStale: the forecast is older than MaxForecastAge, or ends before now.
	ErrStale = errors.New("stale forecast")
	// ErrNoInterval: the bound is upper or lower and the forecast has no
	// interval for the window.
	ErrNoInterval = errors.New("forecast has no interval")
	// ErrNoCurrent: the reactive floor is configured but the current value is
	// unavailable. Only returned together with a forecast error.
	ErrNoCurrent = errors.New("no current value")
)

// Reason returns a short snake_case label for the cause of err, for metrics
// and logs: "no_forecast", "stale", "no_interval", "no_current" or "other".
// The first matching cause wins in that order.
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNoForecast):
		return "no_forecast"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrNoInterval):
		return "no_interval"
	case errors.Is(err, ErrNoCurrent):
		return "no_current"
	}
	return "other"
}

// Point is one forecast point.
type Point struct {
	// T is the time the point is for, in Unix milliseconds (as in the ABI).
	T int64
	// Yhat is the point forecast.
	Yhat float64
	// Lower and Upper bound the prediction interval; NaN when the plugin
	// gives no interval.
	Lower, Upper float64
}

// Forecast is a forecast curve.
type Forecast struct {
	// GeneratedAt is when the forecast was made (for the simulator: when
	// its model was trained). The zero time means unknown: the age is then
	// not checked.
	GeneratedAt time.Time
	// Points are in ascending order of T.
	Points []Point
}

// NewForecast builds a Forecast from a prediction as the ABI returns it:
// timestamps with aligned yhat and, when the plugin gives intervals, lower
// and upper (empty slices otherwise). Lengths must agree and timestamps
// must ascend strictly.
func NewForecast(generatedAt time.Time, ts []int64, yhat, lower, upper []float64) (*Forecast, error) {
	if len(yhat) != len(ts) {
		return nil, fmt.Errorf("forecast: %d timestamps but %d yhat values", len(ts), len(yhat))
	}
	if len(lower) != 0 && len(lower) != len(ts) || len(upper) != 0 && len(upper) != len(ts) {
		return nil, fmt.Errorf("forecast: %d timestamps but %d lower and %d upper values", len(ts), len(lower), len(upper))
	}
	f := &Forecast{GeneratedAt: generatedAt, Points: make([]Point, len(ts))}
	for i, t := range ts {
		if i > 0 && t <= ts[i-1] {
			return nil, fmt.Errorf("forecast: point %d: timestamp %d does not follow %d", i, t, ts[i-1])
		}
		p := Point{T: t, Yhat: yhat[i], Lower: math.NaN(), Upper: math.NaN()}
		if len(lower) > 0 {
			p.Lower = lower[i]
		}
		if len(upper) > 0 {
			p.Upper = upper[i]
		}
		f.Points[i] = p
	}
	return f, nil
}

// Options configure Decide. The zero value is not valid; start from
// DefaultOptions or set every field, then call Validate once.
type Options struct {
	// Aggregation over the window. Default AggMax.
	Aggregation Aggregation
	// Bound read from each point. Default BoundYhat.
	Bound Bound
	// Horizon is the lead time: the window is [now, now+Horizon], both ends
	// included. It should be the time a new pod needs to become ready.
	// Zero means the single point at now. Default 5m.
	Horizon time.Duration
	// ReactiveFloor makes the value max(forecast, current), and makes the
	// current value the fallback when the forecast cannot be used.
	ReactiveFloor bool
	// MaxForecastAge rejects a forecast whose GeneratedAt is more than this
	// before now (ErrStale). Zero disables the check.
	MaxForecastAge time.Duration
	// Anchor shifts the forecast by the current residual, current −
	// yhat(now), before it is read (see the package comment). It needs a
	// current value; without one the forecast is used as it is.
	Anchor bool
	// AnchorHalfLife makes the anchoring shift fade out ahead of now: a
	// point t gets r × 2^(−(t−now)/AnchorHalfLife). Zero keeps the full
	// shift over the whole window. Ignored without Anchor.
	AnchorHalfLife time.Duration
	// AnchorGain scales the anchoring shift: a point gets AnchorGain × r
	// (decayed by AnchorHalfLife). It is the share of today's deviation
	// from the forecast that is expected to last, which a learned policy
	// fits to the residuals' autocorrelation (host/policy). In [0, 1]; 0
	// means 1, the full shift. Ignored without Anchor.
	AnchorGain float64
	// Margin is added to the aggregated forecast (before the clamp at 0
	// and before the reactive floor), in the metric's units. A learned
	// policy sets it to a quantile of the errors its forecast made at the
	// lead on the workload's history (host/policy), so that the headroom
	// follows the forecast's own uncertainty instead of the demand's
	// level. Zero adds nothing; it must be finite.
	Margin float64
}

// DefaultOptions returns max aggregation of yhat over a 5-minute horizon,
// no floor, no age limit.
func DefaultOptions() Options {
	return Options{Aggregation: AggMax, Bound: BoundYhat, Horizon: 5 * time.Minute}
}

// Validate checks the options.
func (o Options) Validate() error {
	if _, err := ParseAggregation(string(o.Aggregation)); err != nil || o.Aggregation == "" {
		return fmt.Errorf("aggregation %q: want max, mean or last", o.Aggregation)
	}
	if _, err := ParseBound(string(o.Bound)); err != nil || o.Bound == "" {
		return fmt.Errorf("bound %q: want yhat, upper or lower", o.Bound)
	}
	if o.Horizon < 0 {
		return fmt.Errorf("horizon %s: must not be negative", o.Horizon)
	}
	if o.MaxForecastAge < 0 {
		return fmt.Errorf("max forecast age %s: must not be negative", o.MaxForecastAge)
	}
	if o.AnchorHalfLife < 0 {
		return fmt.Errorf("anchor half-life %s: must not be negative", o.AnchorHalfLife)
	}
	if !(o.AnchorGain >= 0 && o.AnchorGain <= 1) {
		return fmt.Errorf("anchor gain %g: must be in [0, 1] (0 means 1)", o.AnchorGain)
	}
	if math.IsNaN(o.Margin) || math.IsInf(o.Margin, 0) {
		return fmt.Errorf("margin %g: must be a finite number", o.Margin)
	}
	return nil
}

// AnchorShift returns the part of the anchoring shift r applied to a point
// ahead of now: g·r without AnchorHalfLife (or for ahead ≤ 0), else
// g·r × 2^(−ahead/AnchorHalfLife), g being AnchorGain (1 when 0).
func (o Options) AnchorShift(r float64, ahead time.Duration) float64 {
	if o.AnchorGain > 0 {
		r *= o.AnchorGain
	}
	if o.AnchorHalfLife <= 0 || ahead <= 0 {
		return r
	}
	return r * math.Exp2(-float64(ahead)/float64(o.AnchorHalfLife))
}

// Input is what Decide looks at.
type Input struct {
	// Now is the decision time.
	Now time.Time
	// Forecast is the latest forecast, or nil when there is none.
	Forecast *Forecast
	// Current is the metric's present value. It is used only when HasCurrent
	// is true and it is not NaN.
	Current    float64
	HasCurrent bool
}

// Arm names the rule that produced a Decision's value.
type Arm string

// Arms.
const (
	// ArmForecast: the aggregated forecast.
	ArmForecast Arm = "forecast"
	// ArmFloor: the current value, because it was above the forecast or
	// because the forecast could not be used.
	ArmFloor Arm = "floor"
)

// Decision is the result of Decide.
type Decision struct {
	// Value is the metric value to report.
	Value float64
	// Arm says which rule produced Value.
	Arm Arm
	// Forecast is the aggregated forecast (after the clamp at 0), or NaN
	// when the forecast could not be used.
	Forecast float64
	// Current is the current value, or NaN when it was not given.
	Current float64
	// Unclamped is the aggregate plus Margin before the clamp at 0, or NaN
	// when the forecast could not be used: Forecast is max(Unclamped, 0).
	Unclamped float64
	// Points is the number of forecast points that went into Forecast.
	Points int
	// ForecastErr says why the forecast was not used, when the floor
	// replaced it; nil otherwise.
	ForecastErr error
	// CurrentMissing is true when the floor is configured but no current
	// value was given, so the forecast was used alone.
	CurrentMissing bool
	// Residual is the anchoring residual r = current − yhat(now) that was
	// added to the forecast (before any half-life decay), or NaN when the
	// forecast was not anchored.
	Residual float64
	// AnchorSkipped is true when Anchor is configured and the forecast was
	// used but not anchored: no current value was given (Current is NaN),
	// or yhat(now) is undefined.
	AnchorSkipped bool
}

// Explain renders the decision for people, e.g.
// "forecast 12.5 (max of yhat over 6 points) above current 10".
func (d Decision) Explain(o Options) string {
	var b strings.Builder
	switch {
	case d.ForecastErr != nil:
		fmt.Fprintf(&b, "floor %g: forecast unusable (%v)", d.Value, d.ForecastErr)
	case d.Arm == ArmFloor:
		fmt.Fprintf(&b, "floor %g above forecast %g (%s of %s over %d points)", d.Value, d.Forecast, o.Aggregation, o.Bound, d.Points)
	default:
		fmt.Fprintf(&b, "forecast %g (%s of %s over %d points)", d.Value, o.Aggregation, o.Bound, d.Points)
		if !math.IsNaN(d.Current) && o.ReactiveFloor {
			fmt.Fprintf(&b, ", current %g", d.Current)
		}
		if d.CurrentMissing {
			b.WriteString(", reactive floor skipped: no current value")
		}
	}
	switch {
	case d.ForecastErr != nil:
	case !math.IsNaN(d.Residual):
		fmt.Fprintf(&b, "; anchored: shifted by %+g (current %g − yhat(now) %g)", d.Residual, d.Current, d.Current-d.Residual)
		if o.AnchorHalfLife > 0 {
			fmt.Fprintf(&b, " with half-life %s", o.AnchorHalfLife)
		}
	case d.AnchorSkipped && math.IsNaN(d.Current):
		b.WriteString("; anchoring skipped: no current value")
	case d.AnchorSkipped:
		b.WriteString("; anchoring skipped: the forecast has no yhat at now")
	}
	return b.String()
}

// Decide computes the metric value for in.Now. See the package comment for
// the rules. The error, when not nil, wraps ErrNoForecast, ErrStale or
// ErrNoInterval (and ErrNoCurrent when the floor could not stand in).
func (o Options) Decide(in Input) (Decision, error) {
	d := Decision{Current: math.NaN(), Forecast: math.NaN(), Residual: math.NaN(), Unclamped: math.NaN()}
	hasCurrent := in.HasCurrent && !math.IsNaN(in.Current)
	if hasCurrent {
		d.Current = in.Current
	}
	residual := math.NaN()
	if o.Anchor && hasCurrent {
		if y, ok := yhatAt(in.Forecast, in.Now.UnixMilli()); ok {
			residual = in.Current - y
		}
	}
	raw, n, ferr := o.aggregate(in.Now, in.Forecast, residual)
	fv := max(raw, 0)
	if ferr == nil {
		d.Unclamped = raw
	}
	if ferr == nil && o.Anchor {
		d.Residual, d.AnchorSkipped = residual, math.IsNaN(residual)
	}
	if !o.ReactiveFloor {
		if ferr != nil {
			return Decision{}, ferr
		}
		d.Value, d.Arm, d.Forecast, d.Points = fv, ArmForecast, fv, n
		return d, nil
	}
	switch {
	case ferr != nil && !hasCurrent:
		return Decision{}, fmt.Errorf("%w; reactive floor: %w", ferr, ErrNoCurrent)
	case ferr != nil:
		d.Value, d.Arm, d.ForecastErr = d.Current, ArmFloor, ferr
	case !hasCurrent:
		d.Value, d.Arm, d.Forecast, d.Points, d.CurrentMissing = fv, ArmForecast, fv, n, true
	default:
		d.Forecast, d.Points = fv, n
		if d.Current > fv {
			d.Value, d.Arm = d.Current, ArmFloor
		} else {
			d.Value, d.Arm = fv, ArmForecast
		}
	}
	return d, nil
}

// yhatAt returns the forecast's yhat at t (Unix ms): the point at t, or the
// linear interpolation between the last point before t and the first point
// after it. It reports false when there is no such point or their yhat is
// not finite.
func yhatAt(f *Forecast, t int64) (float64, bool) {
	if f == nil {
		return 0, false
	}
	i, found := slices.BinarySearchFunc(f.Points, t, func(p Point, t int64) int { return cmp.Compare(p.T, t) })
	var y float64
	switch {
	case found:
		y = f.Points[i].Yhat
	case i == 0 || i == len(f.Points):
		return 0, false
	default:
		a, b := f.Points[i-1], f.Points[i]
		y = a.Yhat + (b.Yhat-a.Yhat)*float64(t-a.T)/float64(b.T-a.T)
	}
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return 0, false
	}
	return y, true
}

// aggregate returns the aggregated bound over the window and the number of
// points used. A residual that is not NaN is added to every point's bound,
// decayed by AnchorShift.
func (o Options) aggregate(now time.Time, f *Forecast, residual float64) (float64, int, error) {
	if f == nil || len(f.Points) == 0 {
		return 0, 0, fmt.Errorf("%w: the forecast is empty", ErrNoForecast)
	}
	if o.MaxForecastAge > 0 && !f.GeneratedAt.IsZero() {
		if age := now.Sub(f.GeneratedAt); age > o.MaxForecastAge {
			return 0, 0, fmt.Errorf("%w: made at %s, %s old, more than the maximum age %s", ErrStale, f.GeneratedAt.UTC().Format(time.RFC3339), age, o.MaxForecastAge)
		}
	}
	from := now.UnixMilli()
	to := now.Add(o.Horizon).UnixMilli()
	last := f.Points[len(f.Points)-1].T
	if last < from {
		return 0, 0, fmt.Errorf("%w: it ends at %s, before now (%s)", ErrStale, time.UnixMilli(last).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	// Binary search for the first point at or after now.
	lo, hi := 0, len(f.Points)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if f.Points[m].T < from {
			lo = m + 1
		} else {
			hi = m
		}
	}
	var (
		n, inWindow int
		acc         float64
	)
	for _, p := range f.Points[lo:] {
		if p.T > to {
			break
		}
		inWindow++
		v := p.Yhat
		switch o.Bound {
		case BoundUpper:
			v = p.Upper
		case BoundLower:
			v = p.Lower
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if !math.IsNaN(residual) {
			v += o.AnchorShift(residual, time.Duration(p.T-from)*time.Millisecond)
		}
		switch {
		case n == 0:
			acc = v
		case o.Aggregation == AggMax:
			acc = max(acc, v)
		case o.Aggregation == AggMean:
			acc += v
		case o.Aggregation == AggLast:
			acc = v
		}
		n++
	}
	window := fmt.Sprintf("[%s, %s]", now.UTC().Format(time.RFC3339), now.Add(o.Horizon).UTC().Format(time.RFC3339))
	switch {
	case inWindow == 0:
		return 0, 0, fmt.Errorf("%w: no point in the window %s", ErrNoForecast, window)
	case n == 0 && o.Bound != BoundYhat:
		return 0, 0, fmt.Errorf("%w: bound %s is undefined at the %d points in the window %s", ErrNoInterval, o.Bound, inWindow, window)
	case n == 0:
		return 0, 0, fmt.Errorf("%w: all %d points in the window %s are NaN", ErrNoForecast, inWindow, window)
	}
	if o.Aggregation == AggMean {
		acc /= float64(n)
	}
	return acc + o.Margin, n, nil
}
