package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/series"
)

// fitCase is one model configuration whose fit is timed.
type fitCase struct {
	name   string
	params abi.Params
}

// fitCases returns the fit configurations for s: daily and weekly
// seasonality forced on (14 days of minutes span one minute less than the
// 14 days upstream's auto-detection asks for) and yearly off, as the
// Python bench does, with linear growth, logistic growth (cap 20 % above
// the largest value) and multiplicative seasonality.
func fitCases(s *series.Series) []fitCase {
	base := func() abi.Params {
		return abi.Params{"daily_seasonality": true, "weekly_seasonality": true, "yearly_seasonality": false}
	}
	hi := math.Inf(-1)
	for _, v := range s.Y {
		if !math.IsNaN(v) && v > hi {
			hi = v
		}
	}
	capacity := hi + 0.2*math.Abs(hi)
	if capacity <= hi {
		capacity = hi + 1
	}
	logistic := base()
	logistic["growth"] = "logistic"
	logistic["cap"] = capacity
	mult := base()
	mult["seasonality_mode"] = "multiplicative"
	return []fitCase{{"linear", base()}, {"logistic", logistic}, {"multiplicative", mult}}
}

// Synthetic returns days days of data every step with a linear trend,
// daily and weekly cycles and Gaussian noise, seeded.
func Synthetic(days int, step time.Duration, seed uint64) *series.Series {
	r := rand.New(rand.NewPCG(seed, 1))
	start := int64(1_700_000_000_000) // 2023-11-14T22:13:20Z
	n := int(time.Duration(days) * 24 * time.Hour / step)
	s := &series.Series{T: make([]int64, n), Y: make([]float64, n)}
	const msPerDay = 24 * 60 * 60 * 1000
	for i := range s.T {
		s.T[i] = start + int64(i)*step.Milliseconds()
		d := float64(s.T[i]-start) / msPerDay
		s.Y[i] = 100 + 0.5*d + 20*math.Sin(2*math.Pi*d) + 8*math.Cos(2*math.Pi*d/7) + 3*r.NormFloat64()
	}
	return s
}

// timing is the wall time of repeated runs of one measurement, in seconds.
type timing struct {
	Min  float64   `json:"min_s"`
	Runs []float64 `json:"runs_s"`
}

func newTiming(runs []float64) timing {
	return timing{Min: slices.Min(runs), Runs: runs}
}

// side holds the timings of one case natively and in wasm, the latter
// with the engine's default (interruptible) configuration and, when timed,
// with WithInterruptible(false).
type side struct {
	Native timing  `json:"native"`
	Wasm   *timing `json:"wasm,omitempty"`
	// WasmUninterruptible is wasm on an engine without termination checks.
	WasmUninterruptible  *timing `json:"wasm_uninterruptible,omitempty"`
	Ratio                float64 `json:"wasm_over_native,omitempty"`
	RatioUninterruptible float64 `json:"wasm_uninterruptible_over_native,omitempty"`
	// WasmProcess is wasm in a sandboxed worker process
	// (engine.IsolationProcess); ProcessOverTrusted compares it with
	// WasmUninterruptible, the speed of a trusted built-in.
	WasmProcess        *timing `json:"wasm_process,omitempty"`
	RatioProcess       float64 `json:"wasm_process_over_native,omitempty"`
	ProcessOverTrusted float64 `json:"wasm_process_over_uninterruptible,omitempty"`
}

func newSide(native []float64, wasm map[mode][]float64) side {
	s := side{Native: newTiming(native)}
	ratio := func(t *timing) float64 {
		if s.Native.Min <= 0 {
			return 0
		}
		return t.Min / s.Native.Min
	}
	if w, ok := wasm[interruptible]; ok {
		t := newTiming(w)
		s.Wasm, s.Ratio = &t, ratio(&t)
	}
	if w, ok := wasm[uninterruptible]; ok {
		t := newTiming(w)
		s.WasmUninterruptible, s.RatioUninterruptible = &t, ratio(&t)
	}
	if w, ok := wasm[process]; ok {
		t := newTiming(w)
		s.WasmProcess, s.RatioProcess = &t, ratio(&t)
		if u := s.WasmUninterruptible; u != nil && u.Min > 0 {
			s.ProcessOverTrusted = t.Min / u.Min
		}
	}
	return s
}

// mode is an engine configuration the wasm side runs with.
type mode string

const (
	// interruptible: in-process, with wazero's termination checks.
	interruptible mode = "interruptible"
	// uninterruptible: in-process without them, as trusted built-ins run.
	uninterruptible mode = "uninterruptible"
	// process: a sandboxed worker process, as uploaded plugins run.
	process mode = "process"
)

// engineConfig returns the engine configuration of md.
func engineConfig(md mode) engine.Config {
	cfg := engine.NewConfig().WithPoolSize(1)
	switch md {
	case uninterruptible:
		return cfg.WithInterruptible(false)
	case process:
		return cfg.WithIsolation(engine.IsolationProcess)
	}
	return cfg.WithIsolation(engine.IsolationInProcess)
}

// runner times plugin calls.
type runner struct {
	now  func() time.Time
	runs int
}

// timeFit trains req on f runs times and returns the wall times and the
// last model.
func (r *runner) timeFit(ctx context.Context, f engine.Forecaster, req *abi.TrainRequest) ([]float64, []byte, error) {
	var out []float64
	var model []byte
	for range r.runs {
		start := r.now()
		resp, err := f.Train(ctx, req)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, r.now().Sub(start).Seconds())
		model = resp.Model
	}
	return out, model, nil
}

// timePredict predicts req on f runs times and returns the wall times and
// the last response.
func (r *runner) timePredict(ctx context.Context, f engine.Forecaster, req *abi.PredictRequest) ([]float64, *abi.PredictResponse, error) {
	var out []float64
	var last *abi.PredictResponse
	for range r.runs {
		start := r.now()
		resp, err := f.Predict(ctx, req)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, r.now().Sub(start).Seconds())
		last = resp
	}
	return out, last, nil
}

// sameBits reports whether a and b hold the same float64 bit patterns.
func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// futureSteps returns n timestamps after the last of s, on s's step.
func futureSteps(s *series.Series, n int) ([]int64, error) {
	step := s.Step().Milliseconds()
	if step <= 0 || s.Len() == 0 {
		return nil, fmt.Errorf("series: cannot infer a step from %d rows", s.Len())
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = s.T[s.Len()-1] + int64(i+1)*step
	}
	return out, nil
}
