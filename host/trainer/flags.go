package trainer

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ppa-autoscaler/ppa/host/flagkit"
	"github.com/ppa-autoscaler/ppa/host/promsource"
	"github.com/ppa-autoscaler/ppa/host/store"
)

// Flags are the command-line flags of a training, shared by `ppa train`
// and the ppa-trainer binary so that both take the same arguments.
type Flags struct {
	// Data source: a CSV file, or Prometheus.
	Data          string
	Prometheus    string
	Query         string
	History, Step Duration
	End           string
	Aggregate     string
	PromTimeout   time.Duration
	PromRetries   int
	// Prometheus authentication and TLS.
	BearerTokenFile       string
	BasicAuthUser         string
	BasicAuthPasswordFile string
	TLSCAFile             string
	TLSInsecure           bool

	// Store and S3 credentials (the rest comes from the store URI and the
	// environment, see store.S3Options).
	Store           string
	S3CAFile        string
	S3AccessKeyFile string
	S3SecretKeyFile string

	Model   string
	Version string
	Plugin  string
	Params  []string
	// ParamList holds more plugin parameters, whitespace-separated
	// key=value pairs in one argument (--params), for callers that cannot
	// repeat a flag, such as an Argo template with one parameter.
	ParamList string
	// Pin pins the plugin's digest and names where its artifact is.
	Pin     PluginPin
	Seed    uint64
	HoldOut Duration
	Season  Duration

	MaxMASE, MaxSMAPE, MaxMAPE, MinCoverage float64

	// The workload, for the policy search.
	Lead              Duration
	TargetValue       float64
	TargetUtilization float64
	NoPolicy          bool

	CreatedBy  string
	ResultFile string

	// explicit records the Prometheus-only flags given on the command line,
	// so that giving them with --data is an error rather than ignored.
	explicit map[string]bool
}

// markedValue is a flag value that records in Flags.explicit that it was
// set.
type markedValue struct {
	pflag.Value
	name     string
	explicit map[string]bool
}

func (m markedValue) Set(s string) error {
	m.explicit[m.name] = true
	return m.Value.Set(s)
}

// Duration is a duration flag with an optional day suffix (see
// flagkit.Duration).
type Duration = flagkit.Duration

// Register adds the flags to fs with their defaults (history 14d, step
// 1m, plugin DefaultPlugin). createdBy is the default of --created-by.
func (f *Flags) Register(fs *pflag.FlagSet, createdBy string) {
	f.History = Duration(14 * 24 * time.Hour)
	f.Step = Duration(time.Minute)
	fs.StringVar(&f.Data, "data", "", "train on a CSV file of ds,y rows instead of Prometheus")
	fs.StringVar(&f.Prometheus, "prometheus", "", "Prometheus base URL, e.g. http://prometheus:9090")
	fs.StringVar(&f.Query, "query", "", "PromQL query of the metric to forecast (with --prometheus)")
	f.explicit = map[string]bool{}
	fs.Var(markedValue{&f.History, "history", f.explicit}, "history", "how much history to train on, e.g. 14d (with --prometheus)")
	fs.Var(markedValue{&f.Step, "step", f.explicit}, "step", "sampling step of the history, e.g. 1m (with --prometheus)")
	fs.StringVar(&f.End, "end", "", "end of the history (RFC 3339); default now, truncated to the step (with --prometheus)")
	fs.StringVar(&f.Aggregate, "aggregate", "", "fold a query's series into one: sum, max, min or avg")
	fs.DurationVar(&f.PromTimeout, "prometheus-timeout", promsource.DefaultTimeout, "timeout of one Prometheus request")
	fs.IntVar(&f.PromRetries, "prometheus-retries", promsource.DefaultRetries, "retries of a transient Prometheus failure (negative: none)")
	fs.StringVar(&f.BearerTokenFile, "prometheus-bearer-token-file", "", "file holding a bearer token for Prometheus")
	fs.StringVar(&f.BasicAuthUser, "prometheus-user", "", "basic-auth user for Prometheus")
	fs.StringVar(&f.BasicAuthPasswordFile, "prometheus-password-file", "", "file holding the basic-auth password for Prometheus")
	fs.StringVar(&f.TLSCAFile, "prometheus-ca-file", "", "PEM file of CAs that verify Prometheus's certificate")
	fs.BoolVar(&f.TLSInsecure, "prometheus-insecure-skip-verify", false, "do not verify Prometheus's certificate")

	fs.StringVar(&f.Store, "store", "", "artifact store: a directory or s3://BUCKET/PREFIX[?endpoint=HOST:PORT&insecure=true] (required)")
	fs.StringVar(&f.S3CAFile, "s3-ca-file", "", "PEM file of extra CAs trusted for the S3 endpoint")
	fs.StringVar(&f.S3AccessKeyFile, "s3-access-key-file", "", "file holding the S3 access key (default: $AWS_ACCESS_KEY_ID, $MINIO_ROOT_USER, ...)")
	fs.StringVar(&f.S3SecretKeyFile, "s3-secret-key-file", "", "file holding the S3 secret key")

	fs.StringVar(&f.Model, "model", "", "model to store a version of, as NAMESPACE/NAME (required)")
	fs.StringVar(&f.Version, "version", "", "version to write (default: a new time-sortable version); an existing version is refused")
	fs.StringVar(&f.Plugin, "plugin", "", "forecaster plugin: NAME[@VERSION] (from the store, else built in) or PATH.wasm (default: the policy search picks a built-in one; "+DefaultPlugin+" with --no-policy)")
	fs.StringArrayVar(&f.Params, "param", nil, "plugin parameter as key=value (repeatable)")
	fs.StringVar(&f.Pin.SHA256, "plugin-sha256", "", "sha256 the plugin's artifact must have, wherever it is loaded from (a registered Forecaster's digest)")
	fs.StringVar(&f.Pin.URI, "plugin-uri", "", "where the plugin's artifact is when the store lacks it (file://, http(s)://, or s3:// into a store's plugins/NAME/VERSION/): fetched, checked against --plugin-sha256, published to the store")
	fs.StringVar(&f.ParamList, "params", "", "more plugin parameters: whitespace-separated key=value pairs (values without blanks)")
	fs.Uint64Var(&f.Seed, "seed", 0, "seed passed to the plugin")
	fs.Var(&f.HoldOut, "holdout", "backtest window at the end of the history (default: min(1d, 20% of the history))")
	fs.Var(&f.Season, "season", "seasonal-naive lag of MASE (default: 1d when the history allows, else one step)")

	fs.Float64Var(&f.MaxMASE, "max-mase", 0, "quality gate: reject a model whose hold-out MASE is above this (0: off)")
	fs.Float64Var(&f.MaxSMAPE, "max-smape", 0, "quality gate: reject a model whose hold-out sMAPE (a fraction) is above this (0: off)")
	fs.Float64Var(&f.MaxMAPE, "max-mape", 0, "quality gate: reject a model whose hold-out MAPE (a fraction) is above this (0: off)")
	fs.Float64Var(&f.MinCoverage, "min-coverage", 0, "quality gate: reject a model whose interval coverage is below this (0: off)")

	f.Lead = Duration(DefaultLead)
	fs.Var(&f.Lead, "lead", "time a new replica needs to become ready: the policy's forecast horizon")
	fs.Float64Var(&f.TargetValue, "target-value", 0, "metric one replica should carry (the ScaledObject's targetValue; 0: assume the history's peak needs 20 replicas)")
	fs.Float64Var(&f.TargetUtilization, "target-utilization", DefaultTargetUtilization, "share of a replica's capacity that --target-value stands for, in (0, 1]")
	fs.BoolVar(&f.NoPolicy, "no-policy", false, "skip the policy search (the manifest then holds no scaling policy)")

	fs.StringVar(&f.CreatedBy, "created-by", createdBy, "who or what made the model, recorded in its manifest")
	fs.StringVar(&f.ResultFile, "result-file", "", "also write the JSON result to this file (e.g. for Argo output parameters)")
}

// Options turns the flags into Options without a store (see OpenStore).
// now is the clock.
func (f *Flags) Options(now func() time.Time) (Options, error) {
	var o Options
	ref, err := store.ParseModelRef(f.Model)
	if f.Model == "" {
		err = errors.New("--model NAMESPACE/NAME is required")
	}
	if err != nil {
		return o, fmt.Errorf("--model: %w", err)
	}
	o.Model = ref
	o.Version = f.Version
	src := flagkit.Source{Data: f.Data, Prometheus: f.Prometheus, Query: f.Query, Aggregate: f.Aggregate}
	for _, name := range []string{"history", "step"} {
		if f.explicit[name] {
			src.PrometheusOnly = append(src.PrometheusOnly, name)
		}
	}
	if f.End != "" {
		src.PrometheusOnly = append(src.PrometheusOnly, "end")
	}
	csv, err := src.Check()
	switch {
	case err != nil:
		return o, err
	case csv:
		o.CSV = f.Data
	default:
		p := &PrometheusSource{
			Config: promsource.Config{
				URL:                   f.Prometheus,
				Timeout:               f.PromTimeout,
				Retries:               f.PromRetries,
				BearerTokenFile:       f.BearerTokenFile,
				BasicAuthUser:         f.BasicAuthUser,
				BasicAuthPasswordFile: f.BasicAuthPasswordFile,
				TLSCAFile:             f.TLSCAFile,
				TLSInsecureSkipVerify: f.TLSInsecure,
			},
			Query:     f.Query,
			History:   time.Duration(f.History),
			Step:      time.Duration(f.Step),
			Aggregate: promsource.Aggregation(strings.ToLower(f.Aggregate)),
		}
		if f.PromRetries <= 0 {
			p.Config.Retries = -1 // promsource's 0 means its default; here it means none
		}
		if f.End != "" {
			end, err := time.Parse(time.RFC3339, f.End)
			if err != nil {
				return o, fmt.Errorf("--end %q: want RFC 3339, e.g. 2026-01-31T00:00:00Z", f.End)
			}
			p.End = end
		}
		o.Prometheus = p
	}
	// --params is the template's whitespace-separated list (the images
	// have no shell to split it); both forms go through one parser.
	if o.Params, err = flagkit.ParseParams(f.Params); err != nil {
		return o, err
	}
	if list := strings.Fields(f.ParamList); len(list) > 0 {
		if o.Params == nil {
			o.Params = map[string]string{}
		}
		if err := flagkit.AddParams(o.Params, "--params", list); err != nil {
			return o, err
		}
	}
	o.Plugin = f.Plugin
	if err := f.Pin.Validate(); err != nil {
		return o, err
	}
	if f.Pin.URI != "" && IsPluginPath(f.Plugin) {
		return o, errors.New("--plugin-uri goes with --plugin NAME@VERSION, not a path")
	}
	f.Pin.apply(&o, f.openPluginStore)
	o.Seed = f.Seed
	o.HoldOut = time.Duration(f.HoldOut)
	o.Season = time.Duration(f.Season)
	o.Gate = GateLimits{MaxMASE: f.MaxMASE, MaxSMAPE: f.MaxSMAPE, MaxMAPE: f.MaxMAPE, MinCoverage: f.MinCoverage}
	o.Scaling = Scaling{Lead: time.Duration(f.Lead), TargetValue: f.TargetValue, TargetUtilization: f.TargetUtilization, Disabled: f.NoPolicy}
	o.CreatedBy = f.CreatedBy
	o.Now = now
	if f.Store == "" {
		return o, errors.New("--store DIR|s3://BUCKET/PREFIX is required")
	}
	return o, nil
}

// OpenStore opens the store of --store with the S3 flags applied.
func (f *Flags) OpenStore(ctx context.Context, opts ...store.Option) (store.Store, error) {
	s, err := OpenStore(ctx, f.Store, f.S3CAFile, f.S3AccessKeyFile, f.S3SecretKeyFile, opts...)
	if err != nil || f.Pin.SHA256 == "" {
		return s, err
	}
	return pinnedStore{Store: s, sha: f.Pin.SHA256}, nil
}

// openPluginStore opens the S3 store a --plugin-uri points into, with the
// --store's S3 settings; a URI without a query takes the --store's (its
// endpoint, region and TLS settings).
func (f *Flags) openPluginStore(ctx context.Context, uri string) (store.Store, error) {
	if u, err := url.Parse(uri); err == nil && u.RawQuery == "" {
		if su, err := url.Parse(f.Store); err == nil && su.Scheme == "s3" {
			u.RawQuery = su.RawQuery
			uri = u.String()
		}
	}
	return OpenStore(ctx, uri, f.S3CAFile, f.S3AccessKeyFile, f.S3SecretKeyFile)
}

// OpenStore opens a store location with optional S3 CA and key files.
func OpenStore(ctx context.Context, uri, caFile, accessKeyFile, secretKeyFile string, opts ...store.Option) (store.Store, error) {
	if uri == "" {
		return nil, errors.New("--store DIR|s3://BUCKET/PREFIX is required")
	}
	if caFile != "" || accessKeyFile != "" || secretKeyFile != "" {
		opts = append(opts, store.WithS3(store.S3Options{CAFile: caFile, AccessKeyFile: accessKeyFile, SecretKeyFile: secretKeyFile}))
	}
	return store.Open(ctx, uri, opts...)
}
