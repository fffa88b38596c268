package modelset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/store"
)

// Plugin is what serving needs of a loaded forecaster plugin. The engine's
// plugins implement it (see host/runtime's adapter); tests may use others.
type Plugin interface {
	// Digest is the lower-case hex sha256 of the plugin's wasm.
	Digest() string
	// Description is what the plugin says about itself.
	Description() abi.Description
	// Predict forecasts the request's timestamps.
	Predict(ctx context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error)
}

// Loader compiles (or reuses) a plugin from its wasm bytes, verifying them
// against sha256 (lower-case hex).
type Loader interface {
	Load(ctx context.Context, wasm []byte, sha256 string) (Plugin, error)
}

// Model is one loaded model version, ready to predict. It is immutable
// except for its forecast cache; a reload replaces the whole Model.
type Model struct {
	// Name is the model's name in the inference protocol.
	Name string
	// Manifest is the loaded version's manifest.
	Manifest store.Manifest
	// Step is the sampling step the model was trained at, in seconds.
	Step int64
	// Plugin serves the model; it is shared with every other model of the
	// same plugin digest.
	Plugin Plugin
	// LoadedAt is when the version was loaded, by the set's clock.
	LoadedAt time.Time

	model []byte
	cache *curveCache      // nil when caching is off
	tick  func() time.Time // measures plugin call durations

	policy     *policy.Policy
	policyJSON []byte
	policyErr  error
}

// Policy returns the scaling policy stored with the version (compact JSON
// beside it), or an error naming the model version when the manifest has
// none or holds one that does not decode: the scaler then falls back as
// for a missing forecast. The forecast itself still serves.
func (m *Model) Policy() (*policy.Policy, []byte, error) {
	return m.policy, m.policyJSON, m.policyErr
}

// parsePolicy decodes and validates the manifest's policy.
func parsePolicy(man store.Manifest) (*policy.Policy, error) {
	if len(man.Policy) == 0 {
		return nil, fmt.Errorf("model %s version %s: the manifest holds no scaling policy (trained without the policy search)", man.Model, man.Version)
	}
	p, err := policy.Parse(man.Policy)
	if err != nil {
		return nil, fmt.Errorf("model %s version %s: %w", man.Model, man.Version, err)
	}
	return p, nil
}

// Version is the loaded version of the model.
func (m *Model) Version() string { return m.Manifest.Version }

// Intervals reports whether the plugin returns prediction bounds.
func (m *Model) Intervals() bool { return m.Plugin.Description().Capabilities.Intervals }

// Forecast is a prediction at ds[i] (unix seconds) for every i.
type Forecast struct {
	DS    []int64
	Yhat  []float64
	Lower []float64 // empty when the plugin gives no bounds
	Upper []float64 // empty when the plugin gives no bounds
}

// Stats tells how a Forecast was made, for metrics.
type Stats struct {
	// Cacheable is true when the request could be answered from a cached
	// curve (aligned to the model's step); then CacheHit says whether it was.
	Cacheable bool
	CacheHit  bool
	// PluginCalls and PluginTime count the plugin calls the request made
	// (or waited for) and their total duration.
	PluginCalls int
	PluginTime  time.Duration
}

// Forecast predicts n points at start, start+step, ... (unix seconds). now
// anchors the cached curve. It answers from the cached curve when the
// request lies inside it, else calls the plugin.
func (m *Model) Forecast(ctx context.Context, start, step int64, n int, now time.Time) (Forecast, Stats, error) {
	ds := make([]int64, n)
	for i := range ds {
		ds[i] = start + int64(i)*step
	}
	var st Stats
	if m.cache != nil && step%m.Step == 0 && floorMod(start, m.Step) == 0 {
		st.Cacheable = true
		c := m.cache.current()
		if c.covers(start, step, n) {
			st.CacheHit = true
			return c.slice(ds, step), st, nil
		}
		anchor := floorDiv(now.Unix(), m.Step) * m.Step
		if c == nil || c.t0 != anchor {
			var err error
			c, err = m.cache.refresh(ctx, anchor, func(ctx context.Context) (*curve, time.Duration, error) {
				return m.computeCurve(ctx, anchor)
			}, &st)
			if err != nil {
				return Forecast{}, st, err
			}
		}
		if c.covers(start, step, n) {
			return c.slice(ds, step), st, nil
		}
	}
	f, d, err := m.predict(ctx, ds)
	st.PluginCalls++
	st.PluginTime += d
	return f, st, err
}

// predict calls the plugin for ds (unix seconds).
func (m *Model) predict(ctx context.Context, ds []int64) (Forecast, time.Duration, error) {
	ms := make([]int64, len(ds))
	for i, t := range ds {
		ms[i] = t * 1000
	}
	begin := m.tick()
	resp, err := m.Plugin.Predict(ctx, &abi.PredictRequest{Model: m.model, Seed: m.Manifest.Seed, Timestamps: ms})
	d := m.tick().Sub(begin)
	if err != nil {
		return Forecast{}, d, fmt.Errorf("model %s version %s: plugin %s %s: predict: %w",
			m.Name, m.Version(), m.Manifest.Plugin.Name, m.Manifest.Plugin.Version, err)
	}
	if err := checkResponse(resp, len(ds)); err != nil {
		return Forecast{}, d, fmt.Errorf("model %s version %s: plugin %s %s: %w",
			m.Name, m.Version(), m.Manifest.Plugin.Name, m.Manifest.Plugin.Version, err)
	}
	return Forecast{DS: ds, Yhat: resp.Yhat, Lower: resp.Lower, Upper: resp.Upper}, d, nil
}

// ErrBadPluginResponse marks a plugin answer of the wrong shape.
var ErrBadPluginResponse = errors.New("bad plugin response")

func checkResponse(r *abi.PredictResponse, n int) error {
	if len(r.Yhat) != n {
		return fmt.Errorf("predict returned %d values for %d timestamps: %w", len(r.Yhat), n, ErrBadPluginResponse)
	}
	if len(r.Lower) != len(r.Upper) || (len(r.Lower) != 0 && len(r.Lower) != n) {
		return fmt.Errorf("predict returned %d lower and %d upper bounds for %d timestamps: %w", len(r.Lower), len(r.Upper), n, ErrBadPluginResponse)
	}
	return nil
}

func (m *Model) computeCurve(ctx context.Context, anchor int64) (*curve, time.Duration, error) {
	n := m.cache.points(m.Step)
	ds := make([]int64, n)
	for i := range ds {
		ds[i] = anchor + int64(i)*m.Step
	}
	f, d, err := m.predict(ctx, ds)
	if err != nil {
		return nil, d, fmt.Errorf("forecast cache: %w", err)
	}
	return &curve{t0: anchor, step: m.Step, yhat: f.Yhat, lower: f.Lower, upper: f.Upper}, d, nil
}

// CacheConfig configures the per-model forecast cache.
type CacheConfig struct {
	// Window is how far ahead of now (rounded down to the model's step) the
	// cached curve reaches. Zero disables the cache.
	Window time.Duration
	// MaxPoints caps the curve's length for models with a small step.
	MaxPoints int
	// Timeout bounds the computation of a curve, which does not stop when
	// the request that started it goes away (others may be waiting).
	Timeout time.Duration
}

// curve is a forecast at t0, t0+step, ... (unix seconds).
type curve struct {
	t0, step           int64
	yhat, lower, upper []float64
}

func (c *curve) covers(start, step int64, n int) bool {
	if c == nil || n <= 0 {
		return false
	}
	end := start + int64(n-1)*step
	last := c.t0 + int64(len(c.yhat)-1)*c.step
	return start >= c.t0 && end <= last
}

func (c *curve) slice(ds []int64, step int64) Forecast {
	i0 := int((ds[0] - c.t0) / c.step)
	stride := int(step / c.step)
	f := Forecast{DS: ds, Yhat: make([]float64, len(ds))}
	hasBounds := len(c.lower) > 0
	if hasBounds {
		f.Lower = make([]float64, len(ds))
		f.Upper = make([]float64, len(ds))
	}
	for k := range ds {
		j := i0 + k*stride
		f.Yhat[k] = c.yhat[j]
		if hasBounds {
			f.Lower[k] = c.lower[j]
			f.Upper[k] = c.upper[j]
		}
	}
	return f
}

// curveCache holds a model version's current curve and deduplicates its
// computation: concurrent misses wait for one plugin call.
type curveCache struct {
	cfg CacheConfig
	cur atomic.Pointer[curve]

	mu       sync.Mutex
	inflight map[int64]*flight
}

type flight struct {
	done chan struct{}
	c    *curve
	d    time.Duration
	err  error
}

func newCurveCache(cfg CacheConfig) *curveCache {
	if cfg.Window <= 0 {
		return nil
	}
	return &curveCache{cfg: cfg, inflight: map[int64]*flight{}}
}

func (cc *curveCache) current() *curve { return cc.cur.Load() }

func (cc *curveCache) points(step int64) int {
	n := int(int64(cc.cfg.Window/time.Second)/step) + 1
	if cc.cfg.MaxPoints > 0 && n > cc.cfg.MaxPoints {
		n = cc.cfg.MaxPoints
	}
	return max(n, 1)
}

// refresh computes the curve anchored at anchor once, however many callers
// ask at the same time, and makes it current unless a newer one is.
func (cc *curveCache) refresh(ctx context.Context, anchor int64, compute func(context.Context) (*curve, time.Duration, error), st *Stats) (*curve, error) {
	cc.mu.Lock()
	f, ok := cc.inflight[anchor]
	if !ok {
		f = &flight{done: make(chan struct{})}
		cc.inflight[anchor] = f
		go func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cc.cfg.Timeout)
			defer cancel()
			f.c, f.d, f.err = compute(cctx)
			if f.err == nil {
				for {
					old := cc.cur.Load()
					if old != nil && old.t0 > anchor || cc.cur.CompareAndSwap(old, f.c) {
						break
					}
				}
			}
			cc.mu.Lock()
			delete(cc.inflight, anchor)
			cc.mu.Unlock()
			close(f.done)
		}()
	}
	cc.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, fmt.Errorf("forecast cache: waiting for the curve: %w", ctx.Err())
	}
	if !ok {
		st.PluginCalls++
		st.PluginTime += f.d
	}
	return f.c, f.err
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }
