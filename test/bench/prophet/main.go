// Command bench times the prophet plugin natively and compiled to
// WebAssembly (through host/engine) in one run, and upstream Python
// Prophet on the same data when its venv exists:
//
//	go run ./test/bench/prophet [--data FILE.csv] [--runs 3] [--format table|json]
//
// Without --data the series is synthetic: 14 days of 1-minute data
// (20,160 points) with daily and weekly cycles. Fits are timed for linear
// growth, logistic growth and multiplicative seasonality (daily and weekly
// seasonality on, yearly off); predict is 60 steps after the data with
// 1000 uncertainty samples, on the linear model. Every figure is the
// minimum of --runs repetitions (the machine may be shared); the load
// average is printed with them.
//
// The wasm side runs in three engine configurations (--engines picks):
// interruptible (in-process with wazero's per-loop-iteration termination
// checks, engine.IsolationInProcess), uninterruptible
// (engine.Config.WithInterruptible(false): without them, as trusted
// built-in plugins run) and process (engine.IsolationProcess: a
// sandboxed worker process compiled without the checks, as uploaded
// plugins run).
//
// The wasm module is built from this checkout with the Go toolchain unless
// --wasm names one. Python Prophet is timed with
// plugins/prophet/golden/bench.py in the venv that
// plugins/prophet/golden/run.sh creates
// (${XDG_CACHE_HOME:-~/.cache}/ppa-golden/venv), one process per run, when
// that venv exists (--python auto), or with the interpreter --python names;
// --python off skips it.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// mainErr parses args, runs the bench and writes the report to stdout;
// progress goes to stderr.
func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{now: time.Now, loadAvg: procLoadAvg}
	var format, cases, modes string
	var quiet bool
	fs.StringVar(&cfg.data, "data", "", "CSV with columns ds,y (default: synthetic series, see --days and --step)")
	fs.IntVar(&cfg.days, "days", 14, "length of the synthetic series in days")
	fs.DurationVar(&cfg.step, "step", time.Minute, "step of the synthetic series")
	fs.StringVar(&cfg.wasm, "wasm", "", "prophet.wasm to time (default: build ./plugins/prophet/wasm)")
	fs.IntVar(&cfg.runs, "runs", 3, "repetitions of every measurement; the minimum is reported")
	fs.IntVar(&cfg.horizon, "horizon", 60, "predict steps")
	fs.IntVar(&cfg.samples, "samples", 1000, "uncertainty samples")
	fs.StringVar(&cases, "cases", "linear,logistic,multiplicative", "fit cases, comma separated")
	fs.StringVar(&modes, "engines", "interruptible,uninterruptible,process", "wasm engine configurations, comma separated: interruptible (in-process with termination checks), uninterruptible (engine.Config.WithInterruptible(false), as trusted built-ins run) and process (a sandboxed worker process, as uploaded plugins run)")
	fs.StringVar(&cfg.python, "python", "auto", `Python interpreter with prophet, "auto" (the golden venv if present) or "off"`)
	fs.StringVar(&cfg.benchPy, "bench-py", "", "bench script (default plugins/prophet/golden/bench.py)")
	fs.DurationVar(&cfg.callTimeout, "call-timeout", 10*time.Minute, "engine call timeout")
	fs.StringVar(&format, "format", "table", "output format: table or json")
	fs.BoolVar(&quiet, "quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if format != "table" && format != "json" {
		return fmt.Errorf("--format %q: want table or json", format)
	}
	if cfg.runs < 1 || cfg.horizon < 1 || cfg.samples < 0 || cfg.callTimeout <= 0 {
		return fmt.Errorf("--runs, --horizon and --call-timeout must be positive and --samples not negative")
	}
	known := map[string]bool{"linear": true, "logistic": true, "multiplicative": true}
	for _, c := range strings.Split(cases, ",") {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if !known[c] {
			return fmt.Errorf("--cases: unknown case %q: want linear, logistic or multiplicative", c)
		}
		cfg.cases = append(cfg.cases, c)
	}
	for _, m := range strings.Split(modes, ",") {
		switch md := mode(strings.TrimSpace(m)); md {
		case "":
		case interruptible, uninterruptible, process:
			cfg.modes = append(cfg.modes, md)
		default:
			return fmt.Errorf("--engines: unknown engine configuration %q: want interruptible, uninterruptible or process", m)
		}
	}
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelWarn
	}
	cfg.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	rep, err := run(ctx, cfg)
	if err != nil {
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
		return nil
	}
	if err := writeTable(stdout, rep); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
