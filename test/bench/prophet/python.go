package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ppa-autoscaler/ppa/host/series"
)

// pythonRes holds the timings of upstream Prophet (plugins/prophet/golden/
// bench.py) on the same series: daily + weekly seasonality, linear growth.
type pythonRes struct {
	Interpreter string            `json:"interpreter"`
	Versions    map[string]string `json:"versions"`
	// Process is the wall time of the whole Python process, interpreter
	// start-up and imports included, measured from outside.
	Process timing `json:"process"`
	Import  timing `json:"import"`
	Fit     timing `json:"fit"`
	Predict timing `json:"predict"`
	// Python's minimum over Go's: larger means Go is faster. Process
	// compares the whole Python process with the Go linear fit plus
	// predict.
	FitRatio     ratios  `json:"fit_ratio"`
	PredictRatio ratios  `json:"predict_ratio"`
	ProcessRatio ratios  `json:"process_ratio"`
	LastYhat     float64 `json:"last_yhat"`
}

// benchPyOutput is what bench.py prints.
type benchPyOutput struct {
	Rows      int               `json:"rows"`
	ImportS   float64           `json:"import_s"`
	FitS      []float64         `json:"fit_s"`
	PredictS  []float64         `json:"predict_s"`
	LastYhat  float64           `json:"last_yhat"`
	Versions  map[string]string `json:"versions"`
	TotalS    float64           `json:"total_s"`
	Horizon   int               `json:"horizon"`
	Samples   int               `json:"uncertainty_samples"`
	StepSecs  float64           `json:"step_seconds"`
	RepeatRun int               `json:"repeat"`
}

// defaultPython is the interpreter of the venv plugins/prophet/golden/run.sh
// creates.
func defaultPython() (string, error) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("python: no XDG_CACHE_HOME and no home directory: %w", err)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "ppa-golden", "venv", "bin", "python"), nil
}

// runPython times bench.py cfg.runs times (one fit and predict per
// process) on s and fills rep.Python, or adds a note when Python Prophet
// is not available and cfg.python is "auto".
func runPython(ctx context.Context, cfg config, s *series.Series, rep *report) error {
	if cfg.python == "off" {
		return nil
	}
	py := cfg.python
	if py == "auto" {
		var err error
		if py, err = defaultPython(); err != nil {
			rep.Notes = append(rep.Notes, err.Error())
			return nil
		}
		if _, err := os.Stat(py); errors.Is(err, fs.ErrNotExist) {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Python Prophet not timed: no %s (plugins/prophet/golden/run.sh creates it)", py))
			return nil
		}
	}
	script := cfg.benchPy
	if script == "" {
		var err error
		if script, err = moduleFile("plugins/prophet/golden/bench.py"); err != nil {
			return fmt.Errorf("python: %w", err)
		}
	}
	tmp, err := os.MkdirTemp("", "prophet-bench-")
	if err != nil {
		return fmt.Errorf("python: %w", err)
	}
	defer os.RemoveAll(tmp)
	csvPath := filepath.Join(tmp, "series.csv")
	f, err := os.Create(csvPath)
	if err != nil {
		return fmt.Errorf("python: %w", err)
	}
	werr := writeNaiveCSV(f, s)
	if err := f.Close(); werr == nil && err != nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("python: %s: %w", csvPath, werr)
	}

	res := &pythonRes{Interpreter: py}
	var proc, imp, fit, pred []float64
	for i := range cfg.runs {
		cfg.log.Info("python", "run", i+1)
		cmd := exec.CommandContext(ctx, py, script, csvPath,
			"--horizon", strconv.Itoa(cfg.horizon), "--samples", strconv.Itoa(cfg.samples), "--repeat", "1")
		// cmdstanpy writes its temporary files under TMPDIR.
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := cfg.now()
		err := cmd.Run()
		elapsed := cfg.now().Sub(start).Seconds()
		if err != nil {
			return fmt.Errorf("python: %s %s: %w\n%s", py, script, err, stderr.Bytes())
		}
		var out benchPyOutput
		if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
			return fmt.Errorf("python: %s output: %w\n%s", script, err, stdout.Bytes())
		}
		if len(out.FitS) != 1 || len(out.PredictS) != 1 || out.Rows != s.Valid() {
			return fmt.Errorf("python: %s output: %d fits, %d predicts, %d rows: want 1, 1, %d", script, len(out.FitS), len(out.PredictS), out.Rows, s.Valid())
		}
		proc = append(proc, elapsed)
		imp = append(imp, out.ImportS)
		fit = append(fit, out.FitS[0])
		pred = append(pred, out.PredictS[0])
		res.Versions = out.Versions
		res.LastYhat = out.LastYhat
	}
	res.Process, res.Import, res.Fit, res.Predict = newTiming(proc), newTiming(imp), newTiming(fit), newTiming(pred)
	for _, fr := range rep.Fit {
		if fr.Case == "linear" {
			res.FitRatio = newRatios(res.Fit.Min, fr.side, nil)
			if rep.Predict != nil {
				res.ProcessRatio = newRatios(res.Process.Min, fr.side, &rep.Predict.side)
			}
		}
	}
	if rep.Predict != nil {
		res.PredictRatio = newRatios(res.Predict.Min, rep.Predict.side, nil)
	}
	rep.Python = res
	return nil
}

// ratios is a Python time over the Go times of one measurement; zero
// where the Go side was not timed.
type ratios struct {
	Native              float64 `json:"native"`
	Wasm                float64 `json:"wasm,omitempty"`
	WasmUninterruptible float64 `json:"wasm_uninterruptible,omitempty"`
}

// newRatios divides py by the minima of a (plus those of b when not nil).
func newRatios(py float64, a side, b *side) ratios {
	div := func(x float64) float64 {
		if x <= 0 {
			return 0
		}
		return py / x
	}
	sum := func(f func(side) *timing) float64 {
		ta := f(a)
		if ta == nil {
			return 0
		}
		v := ta.Min
		if b != nil {
			tb := f(*b)
			if tb == nil {
				return 0
			}
			v += tb.Min
		}
		return v
	}
	return ratios{
		Native:              div(sum(func(s side) *timing { return &s.Native })),
		Wasm:                div(sum(func(s side) *timing { return s.Wasm })),
		WasmUninterruptible: div(sum(func(s side) *timing { return s.WasmUninterruptible })),
	}
}

// writeNaiveCSV writes s as "ds,y" with timestamps without a zone
// ("2006-01-02 15:04:05", UTC), which is what Prophet accepts, and NaN for
// missing values.
func writeNaiveCSV(w io.Writer, s *series.Series) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("ds,y\n")
	for i := range s.T {
		bw.WriteString(s.Time(i).Format(time.DateTime))
		bw.WriteByte(',')
		bw.WriteString(strconv.FormatFloat(s.Y[i], 'g', -1, 64))
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
