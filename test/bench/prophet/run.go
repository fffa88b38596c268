package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
	"github.com/ppa-autoscaler/ppa/plugins/prophet"
)

// config is what one bench run does.
type config struct {
	data        string        // CSV with ds,y; "" = synthetic
	days        int           // synthetic length in days
	step        time.Duration // synthetic step
	wasm        string        // prophet.wasm; "" = build ./plugins/prophet/wasm
	runs        int           // repetitions; the minimum is reported
	horizon     int           // predict steps
	samples     int           // uncertainty samples
	cases       []string      // fit cases to run; empty = all
	modes       []mode        // wasm engine configurations to time
	python      string        // "auto", "off" or a Python interpreter
	benchPy     string        // bench.py; "" = plugins/prophet/golden/bench.py in the module
	callTimeout time.Duration // engine call timeout
	now         func() time.Time
	loadAvg     func() ([]float64, error)
	log         *slog.Logger
}

// report is the result of a bench run (the JSON output).
type report struct {
	Rows      int         `json:"rows"`
	Step      string      `json:"step"`
	Source    string      `json:"source"`
	Runs      int         `json:"runs"`
	Horizon   int         `json:"horizon"`
	Samples   int         `json:"uncertainty_samples"`
	GoVersion string      `json:"go_version"`
	Platform  string      `json:"platform"`
	CPUs      int         `json:"cpus"`
	LoadStart []float64   `json:"load_avg_start,omitempty"`
	LoadEnd   []float64   `json:"load_avg_end,omitempty"`
	WasmSHA   string      `json:"wasm_sha256"`
	Fit       []fitResult `json:"fit"`
	Predict   *predictRes `json:"predict,omitempty"`
	Python    *pythonRes  `json:"python,omitempty"`
	Notes     []string    `json:"notes,omitempty"`
}

// fitResult is the fit timing of one case.
type fitResult struct {
	Case string `json:"case"`
	side
	// Identical is true when native and wasm returned the same model bytes.
	Identical bool `json:"identical"`
}

// predictRes is the predict timing of the linear model.
type predictRes struct {
	side
	// Identical is true when native and wasm forecasts and bounds have the
	// same bits.
	Identical bool `json:"identical"`
}

// run executes the bench described by cfg.
func run(ctx context.Context, cfg config) (*report, error) {
	rep := &report{Runs: cfg.runs, Horizon: cfg.horizon, Samples: cfg.samples, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, CPUs: runtime.NumCPU()}
	if l, err := cfg.loadAvg(); err == nil {
		rep.LoadStart = l
	} else {
		cfg.log.Debug("no load average", "err", err)
	}

	s, err := loadSeries(cfg)
	if err != nil {
		return nil, err
	}
	rep.Rows = s.Len()
	rep.Step = s.Step().String()
	rep.Source = cfg.data
	if cfg.data == "" {
		rep.Source = fmt.Sprintf("synthetic %d days every %s, daily + weekly cycles", cfg.days, cfg.step)
	}

	wasm, err := wasmBytes(cfg)
	if err != nil {
		return nil, err
	}
	rep.WasmSHA = engine.Digest(wasm)
	guests := map[mode]engine.Forecaster{}
	for _, md := range cfg.modes {
		ecfg := engineConfig(md).WithCallTimeout(cfg.callTimeout)
		eng, err := engine.New(ctx, ecfg)
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		defer eng.Close(ctx)
		cfg.log.Info("loading prophet.wasm", "engine", md)
		g, err := eng.Load(ctx, wasm, rep.WasmSHA)
		if err != nil {
			return nil, fmt.Errorf("load prophet.wasm (%s): %w", md, err)
		}
		defer g.Close(ctx)
		guests[md] = g
	}
	native := engine.Native(prophet.NewPlugin())
	r := &runner{now: cfg.now, runs: cfg.runs}

	var linearModel []byte
	for _, fc := range fitCases(s) {
		if len(cfg.cases) > 0 && !slices.Contains(cfg.cases, fc.name) {
			continue
		}
		fc.params["uncertainty_samples"] = cfg.samples
		req := &abi.TrainRequest{Params: fc.params, Seed: 1, Timestamps: s.T, Values: s.Y}
		cfg.log.Info("fit", "case", fc.name, "side", "native")
		nt, nm, err := r.timeFit(ctx, native, req)
		if err != nil {
			return nil, fmt.Errorf("fit %s natively: %w", fc.name, err)
		}
		wts := map[mode][]float64{}
		identical := true
		for _, md := range cfg.modes {
			cfg.log.Info("fit", "case", fc.name, "side", "wasm", "engine", md)
			wt, wm, err := r.timeFit(ctx, guests[md], req)
			if err != nil {
				return nil, fmt.Errorf("fit %s in wasm (%s): %w", fc.name, md, err)
			}
			wts[md] = wt
			identical = identical && string(nm) == string(wm)
		}
		rep.Fit = append(rep.Fit, fitResult{Case: fc.name, side: newSide(nt, wts), Identical: identical})
		if fc.name == "linear" {
			linearModel = nm
		}
	}

	if linearModel != nil {
		future, err := futureSteps(s, cfg.horizon)
		if err != nil {
			return nil, err
		}
		req := &abi.PredictRequest{Model: linearModel, Seed: 7, Timestamps: future}
		cfg.log.Info("predict", "side", "native")
		nt, np, err := r.timePredict(ctx, native, req)
		if err != nil {
			return nil, fmt.Errorf("predict natively: %w", err)
		}
		wts := map[mode][]float64{}
		identical := true
		for _, md := range cfg.modes {
			cfg.log.Info("predict", "side", "wasm", "engine", md)
			wt, wp, err := r.timePredict(ctx, guests[md], req)
			if err != nil {
				return nil, fmt.Errorf("predict in wasm (%s): %w", md, err)
			}
			wts[md] = wt
			identical = identical && sameBits(np.Yhat, wp.Yhat) && sameBits(np.Lower, wp.Lower) && sameBits(np.Upper, wp.Upper)
		}
		rep.Predict = &predictRes{side: newSide(nt, wts), Identical: identical}
	} else {
		rep.Notes = append(rep.Notes, "predict not timed: it uses the linear model, which was not fitted")
	}

	if err := runPython(ctx, cfg, s, rep); err != nil {
		return nil, err
	}
	if l, err := cfg.loadAvg(); err == nil {
		rep.LoadEnd = l
	}
	return rep, nil
}

// loadSeries reads cfg.data or makes the synthetic series.
func loadSeries(cfg config) (*series.Series, error) {
	if cfg.data == "" {
		if cfg.days < 1 || cfg.step <= 0 {
			return nil, fmt.Errorf("synthetic series: %d days every %s: want at least 1 day and a positive step", cfg.days, cfg.step)
		}
		return Synthetic(cfg.days, cfg.step, 5), nil
	}
	s, err := series.ReadFile(cfg.data)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	return s, nil
}

// wasmBytes reads cfg.wasm or builds the plugin from this checkout, so
// that the wasm side runs the same code as the native side.
func wasmBytes(cfg config) ([]byte, error) {
	if cfg.wasm != "" {
		b, err := os.ReadFile(cfg.wasm)
		if err != nil {
			return nil, fmt.Errorf("wasm: %w", err)
		}
		return b, nil
	}
	cfg.log.Info("building prophet.wasm")
	b, err := testwasm.Bytes("./plugins/prophet/wasm")
	if err != nil {
		return nil, fmt.Errorf("wasm: %w", err)
	}
	return b, nil
}

// procLoadAvg reads the 1, 5 and 15 minute load averages from
// /proc/loadavg.
func procLoadAvg() ([]float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil, fmt.Errorf("load average: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return nil, fmt.Errorf("load average: /proc/loadavg: %q: want 3 numbers", b)
	}
	out := make([]float64, 3)
	for i := range out {
		if _, err := fmt.Sscan(f[i], &out[i]); err != nil {
			return nil, fmt.Errorf("load average: /proc/loadavg: field %d: %w", i+1, err)
		}
	}
	return out, nil
}

// moduleFile returns path (slash separated, relative to the module root)
// as a file name.
func moduleFile(path string) (string, error) {
	root, err := testwasm.ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, filepath.FromSlash(path)), nil
}
