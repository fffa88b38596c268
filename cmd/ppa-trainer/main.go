// Command ppa-trainer is the trainer container that Argo Workflows runs:
// it reads a metric's history, backtests and trains a forecaster plugin,
// and stores the model as a new immutable version (see host/trainer). It
// takes the flags of `ppa train`, prints the JSON result on stdout and,
// with --result-file, also writes it to a file for Argo output parameters.
// Logs and progress go to stderr as JSON lines.
//
// Exit status: 0 when a model was stored (accepted or rejected by the
// quality gate: see "rejected" in the result), 1 when training failed,
// 2 for bad flags.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/flagkit"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/host/trainer"
	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it parses args, trains and returns the
// exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("ppa-trainer", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var f trainer.Flags
	f.Register(fs, "ppa-trainer")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	cacheDir := fs.String("cache-dir", "", "directory of the wazero compilation cache (empty: none)")
	isolation := engine.DefaultIsolation()
	fs.Var(&isolation, "plugin-isolation", engine.IsolationUsage)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ppa-trainer (--data FILE.csv | --prometheus URL --query PROMQL) --store DIR|s3://BUCKET/PREFIX --model NAMESPACE/NAME [flags]\n\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "ppa-trainer: %v (see --help)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ppa-trainer: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	lvl, err := flagkit.ParseLogLevel(*level)
	if err != nil {
		fmt.Fprintf(stderr, "ppa-trainer: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	opts, err := f.Options(time.Now)
	if err != nil {
		fmt.Fprintf(stderr, "ppa-trainer: %v\n", err)
		return 2
	}
	res, err := train(ctx, &f, opts, engine.NewConfig().WithCacheDir(*cacheDir).WithIsolation(isolation), log)
	if err != nil {
		log.Error("training failed", "error", err.Error())
		fmt.Fprintf(stderr, "ppa-trainer: %v\n", err)
		return 1
	}
	if f.ResultFile != "" {
		if err := res.WriteFile(f.ResultFile); err != nil {
			fmt.Fprintf(stderr, "ppa-trainer: %v\n", err)
			return 1
		}
	}
	if err := res.WriteJSON(stdout); err != nil {
		fmt.Fprintf(stderr, "ppa-trainer: %v\n", err)
		return 1
	}
	return 0
}

func train(ctx context.Context, f *trainer.Flags, opts trainer.Options, cfg engine.Config, log *slog.Logger) (*trainer.Result, error) {
	s, err := f.OpenStore(ctx, store.WithLogger(log))
	if err != nil {
		return nil, err
	}
	e, err := engine.New(ctx, cfg.WithTrustedDigests(builtin.Digests()...).WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("plugin engine: %w", err)
	}
	defer e.Close(context.WithoutCancel(ctx))
	report, done := trainer.ProgressReporter(io.Discard, false, log)
	defer done()
	opts.Store, opts.Engine, opts.Logger, opts.Progress = s, e, log, report
	return trainer.Run(ctx, opts)
}
