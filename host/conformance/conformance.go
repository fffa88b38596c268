// Package conformance is the plugin conformance suite: a set of named checks
// that a forecaster plugin must pass to be served by PPA. `ppa plugin
// verify` runs it; so do the tests of every plugin in this repository,
// whatever its source language.
//
// The checks follow abi/SPEC.md:
//
//   - the module is a WebAssembly binary that imports only WASI and
//     env.abort and exports the six ABI functions with their exact
//     signatures and its memory;
//   - it loads: the ABI version is accepted and the description is valid
//     JSON with a name, a version, parameters whose defaults have their
//     declared types and a positive min_points;
//   - train then predict succeeds on generated series (a daily sine at a
//     5-minute step, a constant, a series with missing values, a series of
//     exactly min_points points), for future, past and off-grid times, and
//     for no times at all;
//   - every prediction has one finite yhat per timestamp, both bounds or
//     none (bounds exactly when the plugin claims intervals), and
//     lower ≤ yhat ≤ upper;
//   - results are bit-for-bit identical for the same input and seed;
//   - bad input (too few points, an unknown parameter, a wrongly typed
//     parameter, garbage or truncated model bytes) is answered with an ABI
//     status, not a trap, and the plugin keeps answering afterwards.
//
// The suite judges behaviour, not accuracy, with one exception: a constant
// series must be forecast as that constant (within 1%).
package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
)

// Status is the outcome of one check.
type Status string

// Check outcomes.
const (
	// Pass: the plugin did what the check requires.
	Pass Status = "pass"
	// Fail: it did not; Result.Detail says why.
	Fail Status = "fail"
	// Skip: the check could not run because an earlier one failed (for
	// example nothing runs when the module does not load).
	Skip Status = "skip"
)

// Result is the outcome of one named check.
type Result struct {
	// Name identifies the check, e.g. "round-trip/seasonal".
	Name string `json:"name"`
	// Title says what the check requires, for people.
	Title string `json:"title"`
	// Status is pass, fail or skip.
	Status Status `json:"status"`
	// Detail is the reason of a failure or skip, or a note on a pass.
	Detail string `json:"detail,omitempty"`
}

// Report is the outcome of a conformance run.
type Report struct {
	// Plugin is the plugin's name and Version its version, as described;
	// empty when the module did not load.
	Plugin  string `json:"plugin,omitempty"`
	Version string `json:"version,omitempty"`
	// Digest is the module's hex sha256; empty for a native plugin.
	Digest string `json:"digest,omitempty"`
	// Results lists every check in the order run.
	Results []Result `json:"checks"`
}

// Passed reports whether every check passed: none failed and none was
// skipped.
func (r *Report) Passed() bool {
	for _, c := range r.Results {
		if c.Status != Pass {
			return false
		}
	}
	return len(r.Results) > 0
}

// Failed returns the checks that did not pass.
func (r *Report) Failed() []Result {
	var out []Result
	for _, c := range r.Results {
		if c.Status != Pass {
			out = append(out, c)
		}
	}
	return out
}

// Result returns the check with the given name.
func (r *Report) Result(name string) (Result, bool) {
	for _, c := range r.Results {
		if c.Name == name {
			return c, true
		}
	}
	return Result{}, false
}

// WriteText renders the report for people: a header, one aligned line per
// check and a summary line.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	name := r.Plugin
	if name == "" {
		name = "(not loaded)"
	} else if r.Version != "" {
		name += " " + r.Version
	}
	fmt.Fprintf(tw, "plugin\t%s\n", name)
	if r.Digest != "" {
		fmt.Fprintf(tw, "sha256\t%s\n", r.Digest)
	}
	fmt.Fprintln(tw)
	counts := map[Status]int{}
	for _, c := range r.Results {
		counts[c.Status]++
		line := fmt.Sprintf("%s\t%s\t%s", strings.ToUpper(string(c.Status)), c.Name, c.Detail)
		if c.Status != Pass {
			line += " (check: " + c.Title + ")"
		}
		fmt.Fprintln(tw, oneLine(line))
	}
	verdict := "PASSED"
	if !r.Passed() {
		verdict = "FAILED"
	}
	fmt.Fprintf(tw, "\n%s: %d passed, %d failed, %d skipped\n", verdict, counts[Pass], counts[Fail], counts[Skip])
	return tw.Flush()
}

// String renders the report as WriteText does.
func (r *Report) String() string {
	var b strings.Builder
	_ = r.WriteText(&b)
	return b.String()
}

// oneLine keeps a tabwriter row on one line.
func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\r", " ").Replace(s) }

// Option tunes a run of the suite.
type Option func(*suite)

// WithCheckTimeout bounds each check that calls the plugin by d; zero (the default) leaves only the engine's call timeout and
// ctx. Once a check runs out of time the plugin is taken not to answer, and
// the checks after it fail at once, not run, rather than each waiting for
// its own timeout. The deadline of ctx bounds the whole run the same way.
func WithCheckTimeout(d time.Duration) Option { return func(s *suite) { s.checkTimeout = d } }

// Run runs every check on the module wasm, loading it with e. The engine's
// own limits (memory, call timeout) apply; with a pool size of 1 (see
// engine.Config.WithPoolSize) the checks that the plugin keeps answering
// after bad input exercise the very instance that received it.
func Run(ctx context.Context, e *engine.Engine, wasm []byte, opts ...Option) Report {
	s := &suite{report: Report{Digest: engine.Digest(wasm)}}
	for _, o := range opts {
		o(s)
	}
	s.static(wasm)
	// Loading compiles the module, which takes time in proportion to its
	// size: only the run's deadline bounds it.
	p, err := e.Load(ctx, wasm, "")
	if err != nil {
		if s.outOfTime(ctx, ctx, err) {
			err = fmt.Errorf("%w (%s)", err, s.stopped)
		}
		s.add("load", "the engine loads the module: ABI version accepted, description valid", Fail, err.Error())
		s.skipDynamic("the module did not load")
		return s.report
	}
	defer p.Close(ctx)
	s.add("load", "the engine loads the module: ABI version accepted, description valid", Pass,
		"ABI "+abi.VersionString(p.ABIVersion()))
	s.dynamic(ctx, p)
	return s.report
}

// RunForecaster runs the checks that need no module (everything after
// "load") on f, for example a native plugin wrapped with engine.Native.
func RunForecaster(ctx context.Context, f engine.Forecaster, opts ...Option) Report {
	s := &suite{}
	for _, o := range opts {
		o(s)
	}
	s.dynamic(ctx, f)
	return s.report
}

// suite accumulates results.
type suite struct {
	report       Report
	checkTimeout time.Duration
	// stopped, once set, says why the remaining checks do not run.
	stopped string
}

// within derives the context of one check.
func (s *suite) within(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.checkTimeout > 0 {
		return context.WithTimeout(ctx, s.checkTimeout)
	}
	return context.WithCancel(ctx)
}

// outOfTime reports whether a check's failure err came from running out of
// time (its own timeout, or the run's deadline, cctx being the check's
// context and ctx the run's), and if so records why the rest will not run.
func (s *suite) outOfTime(ctx, cctx context.Context, err error) bool {
	switch {
	case ctx.Err() != nil:
		s.stopped = "the run's deadline passed"
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			s.stopped = "the run was canceled"
		}
	case cctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		s.stopped = "the plugin did not answer in time"
		if s.checkTimeout > 0 && cctx.Err() != nil {
			s.stopped = fmt.Sprintf("the plugin did not answer within the %s check timeout", s.checkTimeout)
		}
	default:
		return false
	}
	return true
}

// checkWithin is check for a check that calls the plugin: fn gets a
// context bounded by the check timeout, and after a check that ran out of
// time the rest fail without running.
func (s *suite) checkWithin(ctx context.Context, name, title string, fn func(context.Context) (string, error)) bool {
	if s.stopped == "" && ctx.Err() != nil {
		s.outOfTime(ctx, ctx, ctx.Err())
	}
	if s.stopped != "" {
		s.add(name, title, Fail, "not run: "+s.stopped)
		return false
	}
	cctx, cancel := s.within(ctx)
	defer cancel()
	return s.check(name, title, func() (string, error) {
		note, err := fn(cctx)
		if err != nil && s.outOfTime(ctx, cctx, err) {
			err = fmt.Errorf("%w (%s)", err, s.stopped)
		}
		return note, err
	})
}

func (s *suite) add(name, title string, st Status, detail string) {
	s.report.Results = append(s.report.Results, Result{Name: name, Title: title, Status: st, Detail: detail})
}

// skipError makes check record a skip instead of a failure.
type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

// check runs fn and records a pass (with fn's note), a skip or a failure.
func (s *suite) check(name, title string, fn func() (string, error)) bool {
	note, err := fn()
	var skip *skipError
	if errors.As(err, &skip) {
		s.add(name, title, Skip, skip.reason)
		return false
	}
	if err != nil {
		s.add(name, title, Fail, err.Error())
		return false
	}
	s.add(name, title, Pass, note)
	return true
}

// dynamicChecks names the checks that need a loaded plugin, with titles.
var dynamicChecks = []struct{ name, title string }{
	{"describe", "the description is complete: semantic version, typed defaults, min_points ≥ 1"},
	{"defaults", "train accepts every parameter set explicitly to its declared default"},
	{"round-trip/seasonal", "train and predict a daily sine at a 5-minute step (future, past and off-grid times)"},
	{"round-trip/constant", "a constant series is forecast as that constant"},
	{"round-trip/gaps", "train and predict a series with missing values (NaN)"},
	{"round-trip/min-points", "train on exactly min_points points"},
	{"predict-empty", "predict for no timestamps returns no forecasts"},
	{"determinism", "the same input and seed give bit-identical models and forecasts"},
	{"too-few-points", "fewer than min_points observed points is INSUFFICIENT_DATA or INVALID_ARGUMENT"},
	{"unknown-parameter", "an unknown parameter is INVALID_ARGUMENT naming it"},
	{"bad-parameter-type", "a parameter of the wrong type is INVALID_ARGUMENT naming it"},
	{"garbage-model", "unreadable model bytes are INVALID_MODEL or INVALID_ARGUMENT"},
	{"still-answering", "after bad input the plugin still trains and predicts, with the same results"},
}

func (s *suite) skipDynamic(reason string) {
	for _, c := range dynamicChecks {
		s.add(c.name, c.title, Skip, reason)
	}
}

func title(name string) string {
	for _, c := range dynamicChecks {
		if c.name == name {
			return c.title
		}
	}
	panic("conformance: no check named " + name)
}

// static checks the module's bytes.
func (s *suite) static(wasm []byte) {
	const (
		importsTitle = "imports only " + abi.ImportsDescription
		exportsTitle = "exports memory and the ABI functions with their signatures"
	)
	mod, err := parseModule(wasm)
	if !s.check("module", "the file is a WebAssembly binary module", func() (string, error) {
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("module of %d bytes", len(wasm)), nil
	}) {
		s.add("imports", importsTitle, Skip, "the module could not be read")
		s.add("exports", exportsTitle, Skip, "the module could not be read")
		return
	}
	s.check("imports", importsTitle, func() (string, error) {
		var bad []string
		for _, imp := range mod.imports {
			switch {
			case imp.kind == kindFunc && abi.ImportAllowed(imp.module, imp.name):
			default:
				bad = append(bad, fmt.Sprintf("%s %s.%s", kindName(imp.kind), imp.module, imp.name))
			}
		}
		if len(bad) > 0 {
			return "", fmt.Errorf("imports %s", strings.Join(bad, ", "))
		}
		return plural(len(mod.imports), "import"), nil
	})
	s.check("exports", exportsTitle, func() (string, error) {
		var problems []string
		if ex, ok := mod.exports[abi.ExportMemory]; !ok || ex.kind != kindMemory {
			problems = append(problems, fmt.Sprintf("no memory exported as %q", abi.ExportMemory))
		}
		for _, want := range abi.Exports {
			ex, ok := mod.exports[want.Name]
			switch {
			case !ok && want.Required:
				problems = append(problems, "missing "+want.Name)
			case !ok:
			case ex.kind != kindFunc:
				problems = append(problems, fmt.Sprintf("%s is a %s, not a function", want.Name, kindName(ex.kind)))
			case !ex.typ.Equal(want.Signature):
				problems = append(problems, fmt.Sprintf("%s has signature %s, want %s", want.Name, ex.typ, want.Signature))
			}
		}
		if len(problems) > 0 {
			return "", errors.New(strings.Join(problems, "; "))
		}
		return "", nil
	})
}

// Fixed inputs of the dynamic checks.
const (
	seed = 42
	step = 5 * time.Minute
	// seasonalDays of history for the seasonal and gap series.
	seasonalDays = 4
	// constantValue is the level of the constant series.
	constantValue = 37.5
)

// start is the first timestamp of every generated series.
var start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()

var stepMs = step.Milliseconds()

// seasonalSeries is 10 + 3·sin(2π·t/1d) plus a little seeded noise, n
// points every 5 minutes.
func seasonalSeries(n int) ([]int64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	ts := make([]int64, n)
	ys := make([]float64, n)
	for i := range ts {
		ts[i] = start + int64(i)*stepMs
		phase := 2 * math.Pi * float64(i) * float64(stepMs) / float64(24*time.Hour/time.Millisecond)
		ys[i] = 10 + 3*math.Sin(phase) + 0.1*rng.NormFloat64()
	}
	return ts, ys
}

func seasonalValue(t int64) float64 {
	phase := 2 * math.Pi * float64(t-start) / float64(24*time.Hour/time.Millisecond)
	return 10 + 3*math.Sin(phase)
}

// futureTimes returns n timestamps after last, every step.
func futureTimes(last int64, n int) []int64 {
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = last + int64(i+1)*stepMs
	}
	return ts
}

// dynamic runs the checks that call the plugin.
func (s *suite) dynamic(ctx context.Context, f engine.Forecaster) {
	desc := f.Description()
	s.report.Plugin, s.report.Version = desc.Name, desc.Version
	minPoints := desc.Capabilities.MinPoints

	s.checkWithin(ctx, "describe", title("describe"), func(ctx context.Context) (string, error) { return checkDescription(&desc) })

	dayPoints := int(24 * time.Hour / step)
	seasTS, seasYS := seasonalSeries(seasonalDays * dayPoints)
	last := seasTS[len(seasTS)-1]

	s.checkWithin(ctx, "defaults", title("defaults"), func(ctx context.Context) (string, error) {
		ps := abi.Params{}
		for _, p := range desc.Parameters {
			if p.Default != nil {
				ps[p.Name] = p.Default
			}
		}
		_, err := f.Train(ctx, &abi.TrainRequest{Params: ps, Seed: seed, Timestamps: seasTS, Values: seasYS})
		if err != nil {
			return "", fmt.Errorf("train with %s: %w", describeParams(ps), err)
		}
		return plural(len(ps), "parameter"), nil
	})

	var refModel []byte
	var refForecast *abi.PredictResponse
	// Future (one day), past (inside the history) and off-grid times.
	queries := futureTimes(last, dayPoints)
	queries = append(queries, last+90_000, last+7*stepMs+stepMs/2)
	past := []int64{start + stepMs, last - 12*time.Hour.Milliseconds()}
	queries = append(past, queries...)
	slices.Sort(queries)
	s.checkWithin(ctx, "round-trip/seasonal", title("round-trip/seasonal"), func(ctx context.Context) (string, error) {
		model, resp, err := roundTrip(ctx, f, &desc, seasTS, seasYS, queries)
		refModel, refForecast = model, resp
		if err != nil {
			return "", err
		}
		var mae float64
		var n int
		for i, t := range queries {
			if t > last {
				mae += math.Abs(resp.Yhat[i] - seasonalValue(t))
				n++
			}
		}
		return fmt.Sprintf("model %d bytes; next-day MAE %.3f on amplitude 3", len(model), mae/float64(n)), nil
	})

	s.checkWithin(ctx, "round-trip/constant", title("round-trip/constant"), func(ctx context.Context) (string, error) {
		ts := make([]int64, dayPoints)
		ys := make([]float64, dayPoints)
		for i := range ts {
			ts[i] = start + int64(i)*stepMs
			ys[i] = constantValue
		}
		q := futureTimes(ts[len(ts)-1], 24)
		_, resp, err := roundTrip(ctx, f, &desc, ts, ys, q)
		if err != nil {
			return "", err
		}
		for i, y := range resp.Yhat {
			if math.Abs(y-constantValue) > 0.01*constantValue {
				return "", fmt.Errorf("yhat[%d] = %v for a series constant at %v", i, y, constantValue)
			}
		}
		return "", nil
	})

	s.checkWithin(ctx, "round-trip/gaps", title("round-trip/gaps"), func(ctx context.Context) (string, error) {
		ys := slices.Clone(seasYS)
		missing := 0
		for i := range ys {
			// Every 13th point, and a 2-hour outage in the middle.
			if i%13 == 5 || i >= len(ys)/2 && i < len(ys)/2+24 {
				ys[i] = math.NaN()
				missing++
			}
		}
		_, _, err := roundTrip(ctx, f, &desc, seasTS, ys, queries)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d of %d values missing", missing, len(ys)), nil
	})

	s.checkWithin(ctx, "round-trip/min-points", title("round-trip/min-points"), func(ctx context.Context) (string, error) {
		n := max(minPoints, 1)
		ts, ys := seasonalSeries(n)
		_, _, err := roundTrip(ctx, f, &desc, ts, ys, futureTimes(ts[n-1], 12))
		if err != nil {
			return "", err
		}
		return plural(n, "point"), nil
	})

	s.checkWithin(ctx, "predict-empty", title("predict-empty"), func(ctx context.Context) (string, error) {
		if refModel == nil {
			return "", &skipError{"no model: training failed in round-trip/seasonal"}
		}
		resp, err := f.Predict(ctx, &abi.PredictRequest{Model: refModel, Seed: seed})
		if err != nil {
			return "", fmt.Errorf("predict: %w", err)
		}
		if len(resp.Yhat)+len(resp.Lower)+len(resp.Upper) != 0 {
			return "", fmt.Errorf("%d yhat, %d lower, %d upper for no timestamps", len(resp.Yhat), len(resp.Lower), len(resp.Upper))
		}
		return "", nil
	})

	s.checkWithin(ctx, "determinism", title("determinism"), func(ctx context.Context) (string, error) {
		if refForecast == nil {
			return "", &skipError{"no forecast: training or prediction failed in round-trip/seasonal"}
		}
		return "", sameAgain(ctx, f, seasTS, seasYS, queries, refModel, refForecast)
	})

	s.checkWithin(ctx, "too-few-points", title("too-few-points"), func(ctx context.Context) (string, error) {
		type tc struct {
			what string
			ts   []int64
			ys   []float64
		}
		cases := []tc{{what: "an empty series"}}
		if minPoints > 1 {
			ts, ys := seasonalSeries(minPoints - 1)
			cases = append(cases, tc{what: fmt.Sprintf("%d points", minPoints-1), ts: ts, ys: ys})
			// min_points rows, one of them missing.
			ts, ys = seasonalSeries(minPoints)
			ys[0] = math.NaN()
			cases = append(cases, tc{what: fmt.Sprintf("%d rows of which one is missing", minPoints), ts: ts, ys: ys})
		}
		for _, c := range cases {
			_, err := f.Train(ctx, &abi.TrainRequest{Seed: seed, Timestamps: c.ts, Values: c.ys})
			if err := wantStatus(err, abi.StatusInsufficientData, abi.StatusInvalidArgument); err != nil {
				return "", fmt.Errorf("train on %s: %w", c.what, err)
			}
		}
		return plural(len(cases), "case"), nil
	})

	s.checkWithin(ctx, "unknown-parameter", title("unknown-parameter"), func(ctx context.Context) (string, error) {
		const name = "ppa_conformance_no_such_parameter"
		_, err := f.Train(ctx, &abi.TrainRequest{Params: abi.Params{name: 1.0}, Seed: seed, Timestamps: seasTS, Values: seasYS})
		if err := wantStatus(err, abi.StatusInvalidArgument); err != nil {
			return "", fmt.Errorf("train with %s=1: %w", name, err)
		}
		if !strings.Contains(err.Error(), name) {
			return "", fmt.Errorf("message %q does not name the parameter %s", err.Error(), name)
		}
		return "", nil
	})

	s.checkWithin(ctx, "bad-parameter-type", title("bad-parameter-type"), func(ctx context.Context) (string, error) {
		p, bad, ok := wronglyTyped(&desc)
		if !ok {
			return "no typed parameters to try", nil
		}
		ps := abi.Params{p.Name: bad}
		_, err := f.Train(ctx, &abi.TrainRequest{Params: ps, Seed: seed, Timestamps: seasTS, Values: seasYS})
		if err := wantStatus(err, abi.StatusInvalidArgument); err != nil {
			return "", fmt.Errorf("train with %s: %w", describeParams(ps), err)
		}
		if !strings.Contains(err.Error(), p.Name) {
			return "", fmt.Errorf("message %q does not name the parameter %s", err.Error(), p.Name)
		}
		return fmt.Sprintf("%s=%s", p.Name, jsonString(bad)), nil
	})

	s.checkWithin(ctx, "garbage-model", title("garbage-model"), func(ctx context.Context) (string, error) {
		rng := rand.New(rand.NewPCG(seed, 2))
		random := func(n int) []byte {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			return b
		}
		cases := []struct {
			what  string
			model []byte
		}{
			{"an empty model", nil},
			{"16 random bytes", random(16)},
			{"4 KiB of random bytes", random(4096)},
			{"a JSON object", []byte(`{"ppa":"not a model"}`)},
		}
		if len(refModel) > 1 {
			cases = append(cases, struct {
				what  string
				model []byte
			}{"the first half of a valid model", refModel[:len(refModel)/2]})
		}
		for _, c := range cases {
			_, err := f.Predict(ctx, &abi.PredictRequest{Model: c.model, Seed: seed, Timestamps: queries[:3]})
			if err := wantStatus(err, abi.StatusInvalidModel, abi.StatusInvalidArgument); err != nil {
				return "", fmt.Errorf("predict with %s: %w", c.what, err)
			}
		}
		return plural(len(cases), "case"), nil
	})

	s.checkWithin(ctx, "still-answering", title("still-answering"), func(ctx context.Context) (string, error) {
		if refForecast == nil {
			return "", &skipError{"no forecast: training or prediction failed in round-trip/seasonal"}
		}
		return "", sameAgain(ctx, f, seasTS, seasYS, queries, refModel, refForecast)
	})
}

// roundTrip trains on ts/ys with the default parameters and predicts at q,
// checking the shape of the forecast. It returns the model when training
// succeeded and the forecast when prediction did, even if a check failed.
func roundTrip(ctx context.Context, f engine.Forecaster, desc *abi.Description, ts []int64, ys []float64, q []int64) ([]byte, *abi.PredictResponse, error) {
	tr, err := f.Train(ctx, &abi.TrainRequest{Seed: seed, Timestamps: ts, Values: ys})
	if err != nil {
		return nil, nil, fmt.Errorf("train on %d points: %w", len(ts), err)
	}
	if len(tr.Model) == 0 {
		return nil, nil, fmt.Errorf("train returned an empty model")
	}
	resp, err := f.Predict(ctx, &abi.PredictRequest{Model: tr.Model, Seed: seed, Timestamps: q})
	if err != nil {
		return tr.Model, nil, fmt.Errorf("predict %d timestamps: %w", len(q), err)
	}
	return tr.Model, resp, checkForecast(desc, q, resp)
}

// checkForecast checks the shape and numbers of a forecast.
func checkForecast(desc *abi.Description, q []int64, r *abi.PredictResponse) error {
	if len(r.Yhat) != len(q) {
		return fmt.Errorf("%d yhat for %d timestamps", len(r.Yhat), len(q))
	}
	if len(r.Lower) != len(r.Upper) {
		return fmt.Errorf("%d lower but %d upper bounds", len(r.Lower), len(r.Upper))
	}
	hasBounds := len(r.Lower) > 0
	if len(q) > 0 && hasBounds != desc.Capabilities.Intervals {
		if hasBounds {
			return fmt.Errorf("bounds returned but capabilities.intervals is false")
		}
		return fmt.Errorf("no bounds returned but capabilities.intervals is true")
	}
	if hasBounds && len(r.Lower) != len(q) {
		return fmt.Errorf("%d bounds for %d timestamps", len(r.Lower), len(q))
	}
	at := func(i int) string { return time.UnixMilli(q[i]).UTC().Format(time.RFC3339) }
	for i, y := range r.Yhat {
		if math.IsNaN(y) || math.IsInf(y, 0) {
			return fmt.Errorf("yhat[%d] at %s is %v", i, at(i), y)
		}
		if !hasBounds {
			continue
		}
		lo, hi := r.Lower[i], r.Upper[i]
		if math.IsNaN(lo) || math.IsInf(lo, 0) || math.IsNaN(hi) || math.IsInf(hi, 0) {
			return fmt.Errorf("bounds [%v, %v] at %s are not finite", lo, hi, at(i))
		}
		if !(lo <= y && y <= hi) {
			return fmt.Errorf("at %s: yhat %v is not within [%v, %v]", at(i), y, lo, hi)
		}
	}
	return nil
}

// sameAgain trains and predicts again and compares bit for bit.
func sameAgain(ctx context.Context, f engine.Forecaster, ts []int64, ys []float64, q []int64, model []byte, want *abi.PredictResponse) error {
	tr, err := f.Train(ctx, &abi.TrainRequest{Seed: seed, Timestamps: ts, Values: ys})
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	if !slices.Equal(tr.Model, model) {
		i := 0
		for i < min(len(tr.Model), len(model)) && tr.Model[i] == model[i] {
			i++
		}
		return fmt.Errorf("a second training gave a different model (%d bytes, first time %d; first difference at byte %d)", len(tr.Model), len(model), i)
	}
	got, err := f.Predict(ctx, &abi.PredictRequest{Model: model, Seed: seed, Timestamps: q})
	if err != nil {
		return fmt.Errorf("predict: %w", err)
	}
	for _, c := range []struct {
		name      string
		got, want []float64
	}{{"yhat", got.Yhat, want.Yhat}, {"lower", got.Lower, want.Lower}, {"upper", got.Upper, want.Upper}} {
		if len(c.got) != len(c.want) {
			return fmt.Errorf("%s: %d values, first time %d", c.name, len(c.got), len(c.want))
		}
		for i := range c.got {
			if math.Float64bits(c.got[i]) != math.Float64bits(c.want[i]) {
				return fmt.Errorf("%s[%d] = %v, first time %v", c.name, i, c.got[i], c.want[i])
			}
		}
	}
	return nil
}

// wantStatus checks that err is an *abi.Error with one of the statuses.
func wantStatus(err error, statuses ...abi.Status) error {
	names := make([]string, len(statuses))
	for i, s := range statuses {
		names[i] = s.String()
	}
	want := strings.Join(names, " or ")
	if err == nil {
		return fmt.Errorf("succeeded, want %s", want)
	}
	var ae *abi.Error
	if !errors.As(err, &ae) {
		return fmt.Errorf("failed without an ABI status (want %s): %w", want, err)
	}
	if !slices.Contains(statuses, ae.Status) {
		return fmt.Errorf("status %s, want %s: %s", ae.Status, want, ae.Message)
	}
	return nil
}

// checkDescription checks what Description.Validate does not.
func checkDescription(d *abi.Description) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	if !isSemver(d.Version) {
		return "", fmt.Errorf("version %q is not a semantic version (MAJOR.MINOR.PATCH)", d.Version)
	}
	if d.Capabilities.MinPoints < 1 {
		return "", fmt.Errorf("capabilities.min_points is %d: a forecaster needs at least one point", d.Capabilities.MinPoints)
	}
	defaults := abi.Params{}
	for _, p := range d.Parameters {
		if p.Default != nil {
			defaults[p.Name] = p.Default
		}
		if len(p.Enum) > 0 && p.Type != abi.ParamString {
			return "", fmt.Errorf("parameter %q: enum given for type %s (only strings have one)", p.Name, p.Type)
		}
	}
	if err := d.CheckParams(defaults); err != nil {
		return "", fmt.Errorf("default: %w", err)
	}
	return fmt.Sprintf("%s, intervals %t, min_points %d", plural(len(d.Parameters), "parameter"), d.Capabilities.Intervals, d.Capabilities.MinPoints), nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func isSemver(v string) bool {
	core, _, _ := strings.Cut(v, "+")
	core, _, _ = strings.Cut(core, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || strings.Trim(p, "0123456789") != "" || len(p) > 1 && p[0] == '0' {
			return false
		}
	}
	return true
}

// wronglyTyped picks the first parameter whose type rejects some JSON value
// and returns such a value.
func wronglyTyped(d *abi.Description) (abi.Parameter, any, bool) {
	for _, p := range d.Parameters {
		switch p.Type {
		case abi.ParamInt, abi.ParamFloat, abi.ParamDuration:
			return p, true, true
		case abi.ParamBool, abi.ParamString:
			return p, []any{"ppa-conformance"}, true
		}
	}
	return abi.Parameter{}, nil, false
}

func describeParams(ps abi.Params) string {
	if len(ps) == 0 {
		return "no parameters"
	}
	return jsonString(map[string]any(ps))
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
