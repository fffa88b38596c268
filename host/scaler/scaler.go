// Package scaler implements KEDA's external scaler gRPC service
// (externalscaler.ExternalScaler) on top of PPA forecasts.
//
// For each ScaledObject trigger it reads the Model's forecast from a PPA
// runtime (Open Inference Protocol v2 over gRPC), folds the window
// [now, now+horizon] into one metric value with host/decision, optionally
// raises it to the current value (the reactive floor), and hands it to KEDA,
// whose HPA computes replicas = ceil(value / targetValue).
//
// Forecasts are cached per (runtime, model, horizon) and refreshed in the
// background, so GetMetrics answers from memory. When the forecast is
// missing or stale the scaler never makes a number up: it uses the reactive
// floor when configured, and otherwise returns a gRPC error so that KEDA's
// fallback applies.
package scaler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ppa-autoscaler/ppa/host/decision"
	"github.com/ppa-autoscaler/ppa/host/policy"
)

// ReactiveSource reads a metric's current value (the reactive floor).
type ReactiveSource interface {
	// Current evaluates query at Prometheus address at time at.
	Current(ctx context.Context, address, query string, at time.Time) (float64, error)
}

// Config configures a Server. Zero fields take the documented defaults.
type Config struct {
	// RuntimeAddress is the runtime's gRPC host:port used for every trigger
	// that does not set runtimeAddress (local mode).
	RuntimeAddress string
	// Resolver finds the runtime of a trigger that names none, when
	// RuntimeAddress is empty: in a cluster, the Model's status.endpoint.
	Resolver Resolver
	// Forecasts fetches forecasts. Required.
	Forecasts ForecastSource
	// Reactive reads current values for triggers with a reactive floor.
	// Required only when such triggers are used.
	Reactive ReactiveSource
	// Clock returns the current time. Default time.Now.
	Clock func() time.Time
	// RefreshInterval is how often cached forecasts are refetched.
	// Default 30s.
	RefreshInterval time.Duration
	// IdleTTL drops cached forecasts unused for this long. Default 10m.
	IdleTTL time.Duration
	// ActiveGrace is how long IsActive keeps its last answer while
	// forecasts fail, so that it does not flap. Default 5m.
	ActiveGrace time.Duration
	// StreamInterval is how often StreamIsActive re-evaluates. Default 15s.
	StreamInterval time.Duration
	// ReactiveTimeout bounds a reactive query. Default DefaultAnswerBudget.
	ReactiveTimeout time.Duration
	// AnswerBudget bounds how long a call waits for a model's first
	// forecast; beyond it the call answers without one (the reactive floor,
	// or Unavailable) while the fetch goes on in the background. A call
	// with a cached forecast never waits for the runtime. Keep it below
	// KEDA's own deadline for a scaler call (its HTTP default is 3s), so
	// that KEDA gets an answer, not a timeout. Default DefaultAnswerBudget.
	AnswerBudget time.Duration
	// FetchTimeout bounds one background forecast fetch. Default
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
	// Metrics, when set, receives the exported values.
	Metrics *Metrics
	// Logger for warnings. Default slog.Default().
	Logger *slog.Logger
}

// Defaults of Config.
const (
	// DefaultAnswerBudget is the default of Config.AnswerBudget and
	// Config.ReactiveTimeout.
	DefaultAnswerBudget = 2 * time.Second
	// DefaultFetchTimeout is the default of Config.FetchTimeout.
	DefaultFetchTimeout = 10 * time.Second
)

// Server implements externalscaler.ExternalScalerServer.
type Server struct {
	externalscaler.UnimplementedExternalScalerServer

	cfg   Config
	cache *forecastCache

	mu       sync.Mutex
	triggers map[string]*Trigger // by ScaledObject and metadata digest
	active   map[string]activeState
}

type activeState struct {
	active bool
	at     time.Time
}

// New returns a Server. Call Run to refresh forecasts in the background.
func New(cfg Config) (*Server, error) {
	if cfg.Forecasts == nil {
		return nil, errors.New("scaler: a forecast source is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 30 * time.Second
	}
	if cfg.IdleTTL <= 0 {
		cfg.IdleTTL = 10 * time.Minute
	}
	if cfg.ActiveGrace <= 0 {
		cfg.ActiveGrace = 5 * time.Minute
	}
	if cfg.StreamInterval <= 0 {
		cfg.StreamInterval = 15 * time.Second
	}
	if cfg.AnswerBudget <= 0 {
		cfg.AnswerBudget = DefaultAnswerBudget
	}
	if cfg.ReactiveTimeout <= 0 {
		cfg.ReactiveTimeout = DefaultAnswerBudget
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = DefaultFetchTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, triggers: map[string]*Trigger{}, active: map[string]activeState{}}
	s.cache = &forecastCache{
		source: cfg.Forecasts, clock: cfg.Clock, refresh: cfg.RefreshInterval,
		idle: cfg.IdleTTL, budget: cfg.AnswerBudget, fetchTimeout: cfg.FetchTimeout,
		log: cfg.Logger, bg: context.Background(), entries: map[forecastKey]*cacheEntry{},
	}
	return s, nil
}

// Run refreshes cached forecasts until ctx is done.
func (s *Server) Run(ctx context.Context) { s.cache.run(ctx) }

// Refresh refetches every cached forecast now (tests, and Run's ticker).
func (s *Server) Refresh(ctx context.Context) { s.cache.refreshAll(ctx) }

// trigger parses ref's metadata once per distinct metadata.
func (s *Server) trigger(ref *externalscaler.ScaledObjectRef) (*Trigger, error) {
	if ref == nil {
		return nil, status.Error(codes.InvalidArgument, "scaledObjectRef is required")
	}
	key := triggerKey(ref)
	s.mu.Lock()
	t, ok := s.triggers[key]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	so := ref.GetNamespace() + "/" + ref.GetName()
	t, err := ParseTrigger(so, ref.GetNamespace(), ref.GetScalerMetadata())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "scaledobject %s: %v", so, err)
	}
	if t.RuntimeAddress == "" {
		t.RuntimeAddress = s.cfg.RuntimeAddress
	}
	if t.RuntimeAddress == "" && s.cfg.Resolver == nil {
		return nil, status.Errorf(codes.InvalidArgument, "scaledobject %s: metadata %q is required: the scaler has no default runtime address and does not watch Models", so, KeyRuntimeAddress)
	}
	if t.HasFloor() && s.cfg.Reactive == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "scaledobject %s: a reactive floor is configured but this scaler has no Prometheus client", so)
	}
	s.mu.Lock()
	s.triggers[key] = t
	s.mu.Unlock()
	return t, nil
}

func triggerKey(ref *externalscaler.ScaledObjectRef) string {
	md := ref.GetScalerMetadata()
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", ref.GetNamespace(), ref.GetName())
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\x00", k, md[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Evaluation is the outcome of one evaluation of a trigger.
type Evaluation struct {
	// Value is what GetMetrics reports.
	Value float64
	// Decision is the forecast-side decision (zero when it failed).
	Decision decision.Decision
	// Forecast is the cached forecast used, or nil.
	Forecast *Forecast
}

// Evaluate computes the metric value for a trigger now. The error is a gRPC
// status error.
func (s *Server) Evaluate(ctx context.Context, t *Trigger) (Evaluation, error) {
	now := s.cfg.Clock()
	var ev Evaluation
	// The reactive query runs beside the forecast lookup: each has its own
	// bound, and the call waits for the longer only.
	type reactive struct {
		v   float64
		err error
	}
	var cur chan reactive
	if t.HasFloor() {
		cur = make(chan reactive, 1)
		go func() {
			v, err := s.current(ctx, t, now)
			cur <- reactive{v, err}
		}()
	}
	f, ferr := s.fetch(ctx, t)
	in := decision.Input{Now: now}
	if ferr == nil {
		df, err := toDecisionForecast(f)
		if err != nil {
			ferr = err
		} else {
			in.Forecast = df
			ev.Forecast = f
		}
	}
	if cur != nil {
		r := <-cur
		if r.err != nil {
			s.cfg.Metrics.error(t, "prometheus")
			s.cfg.Logger.Warn("reactive value unavailable", "scaledobject", t.ScaledObject, "err", r.err)
		} else {
			in.Current, in.HasCurrent = r.v, true
			s.cfg.Metrics.reactive(t, r.v)
		}
	}
	if ferr != nil {
		s.cfg.Metrics.error(t, fetchReason(ferr))
	}
	opts := t.Options()
	if t.Learned && ev.Forecast != nil {
		var perr error
		if opts, perr = applyPolicy(opts, ev.Forecast); perr != nil {
			s.cfg.Metrics.policy(t, policyMode(perr))
			in.Forecast = nil
			if errors.Is(perr, ErrReactivePolicy) {
				// Serve the current value, as the HPA would.
				if !in.HasCurrent {
					s.cfg.Metrics.error(t, "no_current")
					return ev, status.Errorf(codes.Unavailable, "scaledobject %s: model %s: %v, and the trigger has no current value to serve (set %q and %q)", t.ScaledObject, t.ModelKey(), perr, KeyReactiveQuery, KeyPrometheusAddress)
				}
				ev.Decision = decision.Decision{Value: in.Current, Arm: decision.ArmFloor, Current: in.Current, Forecast: math.NaN(), Residual: math.NaN(), Unclamped: math.NaN(), ForecastErr: perr}
				ev.Value = in.Current
				s.cfg.Metrics.served(t, ev.Value)
				return ev, nil
			}
			s.cfg.Metrics.error(t, "no_policy")
			s.cfg.Logger.Warn("no usable learned policy: falling back as for a missing forecast", "scaledobject", t.ScaledObject, "model", t.ModelKey(), "err", perr)
			ferr = perr
		} else {
			s.cfg.Metrics.policy(t, string(policy.ModePredictive))
		}
	} else if !t.Learned {
		s.cfg.Metrics.policy(t, "trigger")
	}
	d, err := opts.Decide(in)
	if f != nil {
		s.cfg.Metrics.forecastAge(t, now.Sub(f.Fetched))
	}
	if err != nil {
		s.cfg.Metrics.error(t, decision.Reason(err))
		if ferr != nil {
			err = fmt.Errorf("%w (last fetch: %v)", err, ferr)
		}
		return ev, status.Errorf(codes.Unavailable, "scaledobject %s: model %s: %v", t.ScaledObject, t.ModelKey(), err)
	}
	ev.Decision = d
	if d.AnchorSkipped && in.HasCurrent {
		s.cfg.Logger.Warn("forecast not anchored: it has no yhat at now", "scaledobject", t.ScaledObject, "model", t.ModelKey())
	}
	if !math.IsNaN(d.Forecast) {
		s.cfg.Metrics.forecast(t, d.Forecast)
	}
	ev.Value = d.Value
	if t.Mode == ModeForecastOnly {
		if !in.HasCurrent {
			return ev, status.Errorf(codes.Unavailable, "scaledobject %s: forecastOnly mode needs the reactive value, which is unavailable", t.ScaledObject)
		}
		ev.Value = in.Current
	}
	s.cfg.Metrics.served(t, ev.Value)
	return ev, nil
}

// fetch returns the cached forecast for t, resolving its runtime first
// when the trigger names none.
func (s *Server) fetch(ctx context.Context, t *Trigger) (*Forecast, error) {
	addr := t.RuntimeAddress
	if addr == "" {
		a, err := s.cfg.Resolver.Resolve(ctx, t.ModelNamespace, t.ModelName)
		if err != nil {
			return nil, err
		}
		addr = a
	}
	return s.cache.get(ctx, forecastKey{address: addr, model: t.ModelKey(), horizon: t.Horizon})
}

func fetchReason(err error) string {
	switch {
	case errors.Is(err, ErrNoEndpoint):
		return "no_endpoint"
	case errors.Is(err, ErrModelNotFound):
		return "model_not_found"
	case status.Code(err) == codes.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded), errors.Is(err, errFetchPending):
		return "runtime_timeout"
	}
	return "runtime_error"
}

func (s *Server) current(ctx context.Context, t *Trigger, now time.Time) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReactiveTimeout)
	defer cancel()
	v, err := s.cfg.Reactive.Current(ctx, t.PrometheusAddress, t.ReactiveQuery, now)
	if err != nil {
		return 0, fmt.Errorf("reactive query %q at %s: %w", t.ReactiveQuery, t.PrometheusAddress, err)
	}
	return v, nil
}

// applyPolicy returns the decision rules of the forecast's learned policy,
// keeping the trigger's horizon and age limit; the reactive floor applies
// whenever the trigger can read the current value. The error wraps
// ErrReactivePolicy for a reactive policy and ErrNoPolicy for a missing or
// invalid one.
func applyPolicy(trigger decision.Options, f *Forecast) (decision.Options, error) {
	switch {
	case f.PolicyErr != nil:
		if errors.Is(f.PolicyErr, ErrNoPolicy) {
			return trigger, f.PolicyErr
		}
		return trigger, fmt.Errorf("%w: %w", ErrNoPolicy, f.PolicyErr)
	case f.Policy == nil:
		return trigger, fmt.Errorf("%w: model version %s", ErrNoPolicy, f.Version)
	case f.Policy.Mode == policy.ModeReactive:
		return trigger, fmt.Errorf("%w (model version %s): %s", ErrReactivePolicy, f.Version, f.Policy.Reason)
	}
	o, ok, err := f.Policy.Options(trigger.Horizon)
	if err != nil || !ok {
		return trigger, fmt.Errorf("%w: model version %s: %v", ErrNoPolicy, f.Version, err)
	}
	o.MaxForecastAge = trigger.MaxForecastAge
	o.ReactiveFloor = o.ReactiveFloor || trigger.ReactiveFloor
	return o, nil
}

// policyMode labels a policy error for the policy gauge.
func policyMode(err error) string {
	if errors.Is(err, ErrReactivePolicy) {
		return string(policy.ModeReactive)
	}
	return "invalid"
}

func toDecisionForecast(f *Forecast) (*decision.Forecast, error) {
	ms := make([]int64, len(f.DS))
	for i, sec := range f.DS {
		ms[i] = sec * 1000
	}
	df, err := decision.NewForecast(f.Fetched, ms, f.Yhat, f.Lower, f.Upper)
	if err != nil {
		return nil, fmt.Errorf("runtime answer for %s: %w", f.Model, err)
	}
	return df, nil
}

// ceilInt64 is the ceiling of v as an int64, saturated at the int64 range
// (a conversion out of range is undefined in Go: 1e300 became -2^63).
func ceilInt64(v float64) int64 {
	c := math.Ceil(v)
	switch {
	case c >= math.MaxInt64:
		return math.MaxInt64
	case c <= math.MinInt64:
		return math.MinInt64
	case math.IsNaN(c):
		return 0
	}
	return int64(c)
}

// GetMetricSpec implements externalscaler.ExternalScalerServer.
func (s *Server) GetMetricSpec(_ context.Context, ref *externalscaler.ScaledObjectRef) (*externalscaler.GetMetricSpecResponse, error) {
	t, err := s.trigger(ref)
	if err != nil {
		return nil, err
	}
	return &externalscaler.GetMetricSpecResponse{MetricSpecs: []*externalscaler.MetricSpec{{
		MetricName:      t.MetricName(),
		TargetSize:      ceilInt64(t.TargetValue),
		TargetSizeFloat: t.TargetValue,
	}}}, nil
}

// GetMetrics implements externalscaler.ExternalScalerServer.
func (s *Server) GetMetrics(ctx context.Context, req *externalscaler.GetMetricsRequest) (*externalscaler.GetMetricsResponse, error) {
	t, err := s.trigger(req.GetScaledObjectRef())
	if err != nil {
		return nil, err
	}
	ev, err := s.Evaluate(ctx, t)
	if err != nil {
		return nil, err
	}
	name := req.GetMetricName()
	if name == "" {
		name = t.MetricName()
	}
	return &externalscaler.GetMetricsResponse{MetricValues: []*externalscaler.MetricValue{{
		MetricName:       name,
		MetricValue:      ceilInt64(ev.Value),
		MetricValueFloat: ev.Value,
	}}}, nil
}

// IsActive implements externalscaler.ExternalScalerServer: active when the
// value exceeds activationValue. On a failed evaluation the last answer is
// kept for ActiveGrace, so transient errors do not flap the workload
// between zero and its minimum.
func (s *Server) IsActive(ctx context.Context, ref *externalscaler.ScaledObjectRef) (*externalscaler.IsActiveResponse, error) {
	t, err := s.trigger(ref)
	if err != nil {
		return nil, err
	}
	active, err := s.isActive(ctx, t, triggerKey(ref))
	if err != nil {
		return nil, err
	}
	return &externalscaler.IsActiveResponse{Result: active}, nil
}

func (s *Server) isActive(ctx context.Context, t *Trigger, key string) (bool, error) {
	now := s.cfg.Clock()
	ev, err := s.Evaluate(ctx, t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if last, ok := s.active[key]; ok && now.Sub(last.at) <= s.cfg.ActiveGrace {
			return last.active, nil
		}
		return false, err
	}
	active := ev.Value > t.ActivationValue
	s.active[key] = activeState{active: active, at: now}
	return active, nil
}

// StreamIsActive implements externalscaler.ExternalScalerServer: it sends
// the activity state once, then whenever it changes, until the client goes
// away.
func (s *Server) StreamIsActive(ref *externalscaler.ScaledObjectRef, stream externalscaler.ExternalScaler_StreamIsActiveServer) error {
	t, err := s.trigger(ref)
	if err != nil {
		return err
	}
	key := triggerKey(ref)
	ctx := stream.Context()
	ticker := time.NewTicker(s.cfg.StreamInterval)
	defer ticker.Stop()
	sent, last := false, false
	for {
		active, err := s.isActive(ctx, t, key)
		if err != nil {
			s.cfg.Logger.Warn("stream activity check failed", "scaledobject", t.ScaledObject, "err", err)
		} else if !sent || active != last {
			if err := stream.Send(&externalscaler.IsActiveResponse{Result: active}); err != nil {
				return fmt.Errorf("scaledobject %s: send activity: %w", t.ScaledObject, err)
			}
			sent, last = true, active
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}
