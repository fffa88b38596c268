package runtime

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/runtime/modelset"
	"github.com/ppa-autoscaler/ppa/host/store"
)

// Defaults of Options, following KServe's conventions for custom runtimes
// where there is one.
const (
	// DefaultHTTPPort serves REST and /metrics (KServe: 8080).
	DefaultHTTPPort = 8080
	// DefaultGRPCPort serves gRPC (KServe: 8081).
	DefaultGRPCPort = 8081
	// DefaultModelDir is where KServe's storage initializer puts a
	// model's files.
	DefaultModelDir = "/mnt/models"
	// DefaultNamespace completes a --model given without a namespace.
	DefaultNamespace = "default"
	// DefaultPollInterval is how often the store or model directory is
	// checked for new versions.
	DefaultPollInterval = 30 * time.Second
	// DefaultForecastCacheWindow is how far ahead each model's cached
	// forecast curve reaches.
	DefaultForecastCacheWindow = 24 * time.Hour
	// DefaultForecastCachePoints caps a cached curve's length.
	DefaultForecastCachePoints = 20000
	// DefaultMaxHorizon is the longest horizon a request may ask for.
	DefaultMaxHorizon = 7 * 24 * time.Hour
	// DefaultMaxPoints is the most forecast points one request may ask for.
	DefaultMaxPoints = 20000
	// DefaultMaxBodyBytes bounds a request body (REST) or message (gRPC).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultRequestTimeout bounds one request.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultPluginTimeout bounds one plugin call.
	DefaultPluginTimeout = 5 * time.Second
	// DefaultShutdownTimeout bounds a graceful shutdown.
	DefaultShutdownTimeout = 10 * time.Second
)

// Options configure a Server. Start from NewOptions (the defaults) and
// change fields, or bind them to flags with AddFlags.
type Options struct {
	// ListenAddress is the host or IP both ports listen on; empty means
	// every interface.
	ListenAddress string
	// HTTPPort serves REST and /metrics, GRPCPort gRPC. 0 picks a free
	// port (see Server.HTTPAddr and Server.GRPCAddr).
	HTTPPort, GRPCPort int

	// Models lists the models to serve from the store, as
	// NAMESPACE/NAME[@VERSION] (NAME alone takes Namespace). Without
	// models, the runtime serves what it finds in ModelDir.
	Models []string
	// Namespace completes model names given without one.
	Namespace string
	// StoreURI is the artifact store (a directory or s3://BUCKET/PREFIX):
	// required with Models; with ModelDir it provides plugins that are not
	// beside the model.
	StoreURI string
	// S3 configures an s3:// StoreURI beyond what the URI and the
	// environment say (see store.S3Options). The runtime only reads: it
	// never changes the bucket's versioning.
	S3 store.S3Options
	// Store, when set, is used instead of opening StoreURI.
	Store store.Store
	// ModelDir is the model directory served when Models is empty.
	ModelDir string
	// ServeRejected lets a store model serve versions the quality gate
	// rejected (when following the newest version).
	ServeRejected bool
	// ReadyWhenListed reports the server ready once the models were
	// listed and loaded once, even while some have no version serving:
	// for a runtime shared by many models, whose newest member must not
	// keep the others from serving. Each model's own readiness still
	// tells which serve. Without it the server is ready when every model
	// serves.
	ReadyWhenListed bool
	// PollInterval is how often sources are checked for new versions; 0
	// loads once.
	PollInterval time.Duration

	// CacheDir keeps compiled plugins on disk across restarts; empty
	// compiles in memory only.
	CacheDir string
	// PluginIsolation is how plugins that are not built in run; empty
	// means engine.DefaultIsolation.
	PluginIsolation engine.Isolation
	// ForecastCacheWindow is how far ahead each model's cached forecast
	// curve reaches; 0 disables the forecast cache.
	ForecastCacheWindow time.Duration
	// ForecastCachePoints caps a cached curve's length.
	ForecastCachePoints int

	// MaxHorizon and MaxPoints bound what one request may ask for.
	MaxHorizon time.Duration
	MaxPoints  int
	// MaxBodyBytes bounds a REST body and a gRPC message.
	MaxBodyBytes int64
	// PluginInstances is how many instances of each plugin run calls at
	// once (and stay idle between calls); each costs the plugin's linear
	// memory. 0 means one per CPU (the engine's default).
	PluginInstances int
	// RequestTimeout bounds a request, PluginTimeout one plugin call.
	RequestTimeout, PluginTimeout time.Duration
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout time.Duration
	// EnableRepository serves the repository extension (index, load,
	// unload) over REST.
	EnableRepository bool

	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock: default forecast start, cache anchoring. Default
	// time.Now.
	Now func() time.Time
	// Tick measures latencies for metrics; default time.Now.
	Tick func() time.Time
	// Version is reported by server metadata.
	Version string
	// Started, when set, is called by Run once both ports listen, with
	// their addresses.
	Started func(httpAddr, grpcAddr string)
}

// NewOptions returns the defaults.
func NewOptions() Options {
	return Options{
		HTTPPort:            DefaultHTTPPort,
		GRPCPort:            DefaultGRPCPort,
		Namespace:           DefaultNamespace,
		ModelDir:            DefaultModelDir,
		PollInterval:        DefaultPollInterval,
		ForecastCacheWindow: DefaultForecastCacheWindow,
		ForecastCachePoints: DefaultForecastCachePoints,
		MaxHorizon:          DefaultMaxHorizon,
		MaxPoints:           DefaultMaxPoints,
		MaxBodyBytes:        DefaultMaxBodyBytes,
		RequestTimeout:      DefaultRequestTimeout,
		PluginTimeout:       DefaultPluginTimeout,
		ShutdownTimeout:     DefaultShutdownTimeout,
		Version:             "dev",
	}
}

// AddFlags binds the options to command-line flags; their defaults are
// the options' current values.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.ListenAddress, "listen-address", o.ListenAddress, "address both ports listen on (empty: all interfaces)")
	fs.IntVar(&o.HTTPPort, "http-port", o.HTTPPort, "port of the REST API and /metrics (0: any free port)")
	fs.IntVar(&o.GRPCPort, "grpc-port", o.GRPCPort, "port of the gRPC API (0: any free port)")
	fs.StringArrayVar(&o.Models, "model", o.Models, "model to serve from --store, NAMESPACE/NAME[@VERSION] (repeatable; without it, --model-dir is served)")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "namespace of a --model given as NAME")
	fs.StringVar(&o.StoreURI, "store", o.StoreURI, "artifact store: DIR or s3://BUCKET/PREFIX (S3 credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&o.ModelDir, "model-dir", o.ModelDir, "model directory (manifest.json, model.bin, optional plugin.wasm), served when no --model is given")
	fs.BoolVar(&o.ServeRejected, "serve-rejected", o.ServeRejected, "serve the newest version even when the quality gate rejected it")
	fs.BoolVar(&o.ReadyWhenListed, "ready-when-listed", o.ReadyWhenListed, "report the server ready once the models were listed, even while some have no version serving (a runtime shared by many models)")
	fs.Var(durationFlag{&o.PollInterval}, "poll-interval", "how often to look for new model versions (0: load once)")
	fs.StringVar(&o.CacheDir, "cache-dir", o.CacheDir, "directory for compiled plugins, kept across restarts (empty: in memory)")
	if o.PluginIsolation == "" {
		o.PluginIsolation = engine.DefaultIsolation()
	}
	fs.Var(&o.PluginIsolation, "plugin-isolation", engine.IsolationUsage)
	fs.Var(durationFlag{&o.ForecastCacheWindow}, "forecast-cache-window", "how far ahead each model's cached forecast reaches (0: no forecast cache)")
	fs.IntVar(&o.ForecastCachePoints, "forecast-cache-points", o.ForecastCachePoints, "most points in a cached forecast")
	fs.Var(durationFlag{&o.MaxHorizon}, "max-horizon", "longest horizon a request may ask for")
	fs.IntVar(&o.MaxPoints, "max-points", o.MaxPoints, "most forecast points a request may ask for")
	fs.Int64Var(&o.MaxBodyBytes, "max-body-bytes", o.MaxBodyBytes, "largest REST body or gRPC message accepted")
	fs.IntVar(&o.PluginInstances, "plugin-instances", o.PluginInstances, "instances of each plugin running calls at once, each with its own memory (0: one per CPU)")
	fs.Var(durationFlag{&o.RequestTimeout}, "request-timeout", "time limit of one request")
	fs.Var(durationFlag{&o.PluginTimeout}, "plugin-timeout", "time limit of one plugin call")
	fs.BoolVar(&o.EnableRepository, "enable-repository", o.EnableRepository, "serve the repository extension (POST /v2/repository/index, .../models/NAME/load, .../unload)")
}

// durationFlag is a pflag.Value for durations that also accepts days
// ("7d", "1d12h").
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return "0s"
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	if s == "0" {
		*f.d = 0
		return nil
	}
	d, err := abi.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

func (f durationFlag) Type() string { return "duration" }

// validate checks the options and parses the model specs.
func (o *Options) validate() ([]modelset.ModelSpec, error) {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.HTTPPort >= 0 && o.HTTPPort <= 65535, "http port %d: want 0..65535", o.HTTPPort)
	check(o.GRPCPort >= 0 && o.GRPCPort <= 65535, "grpc port %d: want 0..65535", o.GRPCPort)
	check(o.PollInterval >= 0, "poll interval %s: must not be negative", o.PollInterval)
	check(o.ForecastCacheWindow >= 0, "forecast cache window %s: must not be negative", o.ForecastCacheWindow)
	check(o.ForecastCachePoints > 0, "forecast cache points %d: must be positive", o.ForecastCachePoints)
	check(o.MaxHorizon >= time.Second, "max horizon %s: must be at least 1s", o.MaxHorizon)
	check(o.MaxPoints > 0, "max points %d: must be positive", o.MaxPoints)
	check(o.MaxBodyBytes > 0, "max body bytes %d: must be positive", o.MaxBodyBytes)
	check(o.RequestTimeout > 0, "request timeout %s: must be positive", o.RequestTimeout)
	check(o.PluginTimeout > 0, "plugin timeout %s: must be positive", o.PluginTimeout)
	check(o.PluginInstances >= 0, "plugin instances %d: must not be negative", o.PluginInstances)
	var specs []modelset.ModelSpec
	for _, s := range o.Models {
		spec, err := modelset.ParseModelSpec(s, o.Namespace)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		specs = append(specs, spec)
	}
	if len(o.Models) > 0 && o.StoreURI == "" && o.Store == nil {
		errs = append(errs, errors.New("--model needs --store"))
	}
	if len(o.Models) == 0 && o.ModelDir == "" {
		errs = append(errs, errors.New("nothing to serve: give --model with --store, or --model-dir"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("runtime options: %w", err)
	}
	return specs, nil
}
