// Command ppa-controller runs PPA's Kubernetes controller: it turns each
// Model into an Argo Workflow (first training), an Argo CronWorkflow
// (retraining) and a KServe InferenceService (serving), and checks
// registered Forecasters. See package host/controller.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/ppa-autoscaler/ppa/host/controller"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "ppa-controller:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	opts := controller.NewOptions()
	var (
		metricsAddr, probeAddr string
		leaderElect            bool
		leaderElectionNS       string
		builtins               string
		level                  slog.Level
	)
	fs := flag.NewFlagSet("ppa-controller", flag.ContinueOnError)
	fs.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "address of the metrics endpoint (0: off)")
	fs.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes")
	fs.BoolVar(&leaderElect, "leader-elect", false, "elect a leader, so that only one replica reconciles")
	fs.StringVar(&leaderElectionNS, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's)")
	fs.StringVar(&opts.TrainerImage, "trainer-image", opts.TrainerImage, "image of the training containers")
	fs.StringVar(&opts.TrainerCommand, "trainer-command", opts.TrainerCommand, "trainer executable in --trainer-image")
	fs.StringVar(&opts.DefaultStoreURI, "default-store-uri", "", "store of Models without spec.store: s3://BUCKET/PREFIX or a directory")
	fs.StringVar(&opts.DefaultStoreCredentialsSecret, "default-store-credentials-secret", "", "Secret (in each Model's namespace) with the default store's credentials")
	fs.StringVar(&opts.StoreCredentialsNamespace, "store-credentials-namespace", "", "namespace of the original --default-store-credentials-secret, copied into the namespaces of Models using the default store (empty: no copies)")
	fs.StringVar(&opts.TrainingServiceAccount, "training-service-account", opts.TrainingServiceAccount, "ServiceAccount of the training pods of Models naming none, created with its Role in their namespace (empty: the namespace's default)")
	fs.StringVar(&builtins, "builtin-forecasters", strings.Join(opts.BuiltinForecasters, ","), "comma-separated plugins built into the trainer and runtime")
	fs.Func("grpc-port", fmt.Sprintf("predictor gRPC port for Model.status.endpoint (default %d)", opts.GRPCPort), func(s string) error {
		var p int32
		if _, err := fmt.Sscan(s, &p); err != nil {
			return fmt.Errorf("grpc port %q: %w", s, err)
		}
		opts.GRPCPort = p
		return nil
	})
	fs.Func("training-pod", fmt.Sprintf("JSON settings of every training Workflow: activeDeadlineSeconds, retries, imagePullSecrets, securityContext, containerSecurityContext, nodeSelector, tolerations, affinity, priorityClassName (default %s)", opts.TrainingPod), func(s string) error {
		p, err := controller.ParseTrainingPod(s)
		if err != nil {
			return err
		}
		opts.TrainingPod = p
		return nil
	})
	askRuntime := fs.Bool("ask-runtime", true, "ask each ready predictor's runtime (gRPC ModelMetadata) which version it serves: status.servingVersion and Serving come from its answer")
	fs.DurationVar(&opts.RuntimeStatusInterval, "runtime-status-interval", opts.RuntimeStatusInterval, "how often a Model is reconciled again to ask its runtime (with --ask-runtime)")
	fs.StringVar(&opts.DeploymentMode, "deployment-mode", opts.DeploymentMode, "KServe deployment mode of the InferenceServices (empty: KServe's default)")
	fs.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts.BuiltinForecasters = splitList(builtins)
	if *askRuntime {
		opts.Runtime = &controller.GRPCRuntime{}
	}
	if err := opts.Validate(); err != nil {
		return err
	}

	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(logr.FromSlogHandler(logger.Handler()))

	scheme, err := controller.NewScheme()
	if err != nil {
		return err
	}
	cacheOpts, err := controller.CacheOptions()
	if err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("kubernetes config: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   cacheOpts,
		Metrics:                 metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress:  probeAddr,
		LeaderElection:          leaderElect,
		LeaderElectionID:        "ppa-controller.ppa-autoscaler.io",
		LeaderElectionNamespace: leaderElectionNS,
	})
	if err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	if err := controller.Setup(mgr, opts); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("readyz check: %w", err)
	}
	logger.Info("starting", "version", version, "trainerImage", opts.TrainerImage,
		"defaultStore", opts.DefaultStoreURI, "leaderElect", leaderElect)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	return nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
