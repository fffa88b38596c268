// Package cli implements the `ppa` command line: the root command with its
// global flags and one file per command group (forecast.go, plugin.go, …).
//
// Each command is built by a constructor that takes the shared *App (the
// command's dependencies) and the io.Writer it prints to; its logic lives
// in an options struct with a Run method, so tests drive commands
// in-process. To add a command group, write its file with a constructor of
// type CommandFunc and add one line to the commands list below.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/flagkit"
	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

// CommandFunc builds a top-level command (or command group) of ppa. out is
// where it prints its results; diagnostics go to app.Err.
type CommandFunc func(app *App, out io.Writer) *cobra.Command

// commands are the top-level commands of ppa, in help order. A new command
// group is one file with a CommandFunc and one line here.
var commands = []CommandFunc{
	newForecastCmd,
	newBacktestCmd,
	newUpCmd,
	newPluginCmd,
	newSimulateCmd,
	newServeCmd,
	newTrainCmd,
}

// App holds what commands share: their dependencies (set by the caller of
// NewRootCommand) and the global flags (set by cobra).
type App struct {
	// Out receives command results and Err diagnostics and logs.
	Out, Err io.Writer
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Getenv reads the environment (XDG_CACHE_HOME, HOME). Nil means
	// os.Getenv.
	Getenv func(string) string
	// Builtin loads a built-in plugin by name and BuiltinNames lists them.
	// Nil means package builtin.
	Builtin      func(name string) ([]byte, error)
	BuiltinNames func() []string

	// LogLevel is the --log-level flag: debug, info, warn or error.
	LogLevel string
	// CacheDir is the --cache-dir flag: the wazero compilation cache, or
	// empty for none.
	CacheDir string
	// Isolation is the --plugin-isolation flag; empty means
	// engine.DefaultIsolation.
	Isolation engine.Isolation

	logger *slog.Logger
}

func (a *App) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

func (a *App) getenv(k string) string {
	if a.Getenv == nil {
		return os.Getenv(k)
	}
	return a.Getenv(k)
}

// Logger returns the logger configured by --log-level, writing text to Err.
func (a *App) Logger() *slog.Logger {
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	return a.logger
}

// DefaultCacheDir returns ${XDG_CACHE_HOME:-$HOME/.cache}/ppa/wazero, or
// "" when neither variable is set.
func (a *App) DefaultCacheDir() string {
	base := a.getenv("XDG_CACHE_HOME")
	if base == "" {
		home := a.getenv("HOME")
		if home == "" {
			return ""
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "ppa", "wazero")
}

// NewEngine creates a plugin engine with the compilation cache of
// --cache-dir and the app's logger; change adjusts the configuration
// further (it may be nil). The caller closes the engine.
func (a *App) NewEngine(ctx context.Context, change func(engine.Config) engine.Config) (*engine.Engine, error) {
	// The built-in plugins are this build's own code: they run without the
	// termination checks that make Go guests several times slower.
	cfg := engine.NewConfig().WithTrustedDigests(builtin.Digests()...).WithCacheDir(a.CacheDir).WithLogger(a.Logger()).WithClock(a.now)
	if a.Isolation != "" {
		cfg = cfg.WithIsolation(a.Isolation)
	}
	if change != nil {
		cfg = change(cfg)
	}
	e, err := engine.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("plugin engine: %w", err)
	}
	return e, nil
}

// PluginBytes resolves a plugin reference as users type it: a path to a
// .wasm file (anything ending in .wasm or containing a path separator), or
// the name of a built-in plugin.
func (a *App) PluginBytes(ref string) ([]byte, error) {
	if ref == "" {
		return nil, errors.New("plugin: empty name")
	}
	if strings.HasSuffix(ref, builtin.Ext) || strings.ContainsRune(ref, '/') || strings.ContainsRune(ref, filepath.Separator) {
		b, err := os.ReadFile(ref)
		if err != nil {
			return nil, fmt.Errorf("plugin: %w", err)
		}
		return b, nil
	}
	load := a.Builtin
	if load == nil {
		load = builtin.Load
	}
	b, err := load(ref)
	if err != nil {
		return nil, fmt.Errorf("plugin: %w", err)
	}
	return b, nil
}

// builtinNames lists the built-in plugins.
func (a *App) builtinNames() []string {
	if a.BuiltinNames == nil {
		return builtin.Names()
	}
	return a.BuiltinNames()
}

// LoadPlugin resolves ref (see PluginBytes) and loads it into e.
func (a *App) LoadPlugin(ctx context.Context, e *engine.Engine, ref string) (*engine.Plugin, error) {
	wasm, err := a.PluginBytes(ref)
	if err != nil {
		return nil, err
	}
	p, err := e.Load(ctx, wasm, "")
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", ref, err)
	}
	return p, nil
}

// openPlugin creates an engine (see NewEngine) and loads the plugin ref
// into it (see LoadPlugin), as the commands that run one plugin do.
// release closes the plugin, then the engine.
func (a *App) openPlugin(ctx context.Context, ref string) (p *engine.Plugin, release func(), err error) {
	e, err := a.NewEngine(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	if p, err = a.LoadPlugin(ctx, e, ref); err != nil {
		e.Close(ctx)
		return nil, nil, err
	}
	return p, func() {
		p.Close(ctx)
		e.Close(ctx)
	}, nil
}

// NewRootCommand builds the ppa command with every subcommand.
func NewRootCommand(app *App) *cobra.Command {
	if app.Out == nil {
		app.Out = io.Discard
	}
	if app.Err == nil {
		app.Err = io.Discard
	}
	root := &cobra.Command{
		Use:   "ppa",
		Short: "Predictive Pod Autoscaler: forecast metrics with WebAssembly plugins and scale ahead of load",
		Long: `ppa forecasts a metric's future with a forecaster plugin (a WebAssembly
module speaking the PPA plugin ABI) and runs the pieces of the Predictive Pod
Autoscaler locally. Built-in plugins are named (e.g. seasonal-naive); any
other plugin is given as a path to its .wasm file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			level, err := flagkit.ParseLogLevel(app.LogLevel)
			if err != nil {
				return err
			}
			app.logger = slog.New(slog.NewTextHandler(app.Err, &slog.HandlerOptions{Level: level}))
			return nil
		},
	}
	root.SetOut(app.Out)
	root.SetErr(app.Err)
	root.CompletionOptions.DisableDefaultCmd = true
	flags := root.PersistentFlags()
	flags.StringVar(&app.LogLevel, "log-level", "warn", "log level: debug, info, warn or error (logs go to stderr)")
	flags.StringVar(&app.CacheDir, "cache-dir", app.DefaultCacheDir(),
		"directory of the wazero compilation cache, ${XDG_CACHE_HOME:-~/.cache}/ppa/wazero by default; empty disables it")
	app.Isolation = engine.DefaultIsolation()
	flags.Var(&app.Isolation, "plugin-isolation", engine.IsolationUsage)
	for _, c := range commands {
		root.AddCommand(c(app, app.Out))
	}
	return root
}

// Execute runs ppa with args, printing results to stdout and errors to
// stderr, and returns the process exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &App{Out: stdout, Err: stderr}
	root := NewRootCommand(app)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "ppa: %v\n", err)
		return 1
	}
	return 0
}

// policyCandidates loads the built-in forecasters the policy search tries
// (policy.DefaultCandidates) into e. The engine owns them.
func (a *App) policyCandidates(ctx context.Context, e *engine.Engine) ([]policy.Candidate, error) {
	var out []policy.Candidate
	for _, spec := range policy.DefaultCandidates {
		p, err := a.LoadPlugin(ctx, e, spec.Name)
		if err != nil {
			return nil, fmt.Errorf("policy candidate %s: %w", spec.Name, err)
		}
		out = append(out, policy.Candidate{Name: spec.Name, Params: spec.Params, Forecaster: p})
	}
	return out, nil
}
