// Command ppa-scaler is PPA's KEDA external scaler: it answers KEDA's
// ExternalScaler gRPC calls with forecast-based metric values read from a
// PPA runtime. See the README section "KEDA trigger metadata".
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/ppa-autoscaler/ppa/host/scaler"
)

func main() {
	var o scaler.ServeOptions
	level := new(slog.LevelVar)
	flag.StringVar(&o.ListenAddress, "listen-address", "", "interface to bind (default all)")
	flag.IntVar(&o.GRPCPort, "grpc-port", 9090, "port of the external scaler gRPC service and gRPC health")
	flag.IntVar(&o.MetricsPort, "metrics-port", 8080, "port of /metrics and /healthz (-1 disables)")
	flag.StringVar(&o.RuntimeAddress, "runtime-address", "", "default PPA runtime gRPC address host:port (triggers may override with runtimeAddress); empty: read each Model's status.endpoint from the Kubernetes API")
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig for watching Models (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	flag.DurationVar(&o.RuntimeTimeout, "runtime-timeout", 5e9, "deadline of one runtime call")
	flag.DurationVar(&o.RefreshInterval, "refresh-interval", 30e9, "how often cached forecasts are refreshed")
	flag.StringVar(&o.TLSCertFile, "tls-cert", "", "TLS certificate file for the gRPC port")
	flag.StringVar(&o.TLSKeyFile, "tls-key", "", "TLS key file for the gRPC port")
	flag.TextVar(level, "log-level", level, "log level: debug, info, warn, error")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	o.Logger = log
	o.Reactive = &scaler.PrometheusReactive{}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.RuntimeAddress == "" {
		cfg, err := kubeConfig(*kubeconfig)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ppa-scaler: no --runtime-address, and no Kubernetes API to read Models from:", err)
			os.Exit(1)
		}
		if o.Resolver, err = scaler.WatchModels(ctx, cfg); err != nil {
			fmt.Fprintln(os.Stderr, "ppa-scaler:", err)
			os.Exit(1)
		}
	}
	if err := scaler.Serve(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "ppa-scaler:", err)
		os.Exit(1)
	}
}

// kubeConfig loads the REST config from path, else the usual places.
func kubeConfig(path string) (*rest.Config, error) {
	if path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
}
