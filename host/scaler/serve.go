package scaler

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ServeOptions configure the scaler process (`ppa-scaler`).
type ServeOptions struct {
	// ListenAddress is the interface to bind. Default "" (all).
	ListenAddress string
	// GRPCPort serves the external scaler and gRPC health. Default 9090.
	GRPCPort int
	// MetricsPort serves /metrics and /healthz over HTTP; a negative value
	// disables it and 0 picks a free port.
	MetricsPort int
	// TLSCertFile and TLSKeyFile enable TLS on the gRPC port.
	TLSCertFile, TLSKeyFile string
	// RuntimeAddress is the default runtime gRPC address (local mode).
	RuntimeAddress string
	// Resolver finds a model's runtime when neither the trigger nor
	// RuntimeAddress names one (in a cluster: WatchModels).
	Resolver Resolver
	// RuntimeTimeout bounds one runtime call. Default 5s.
	RuntimeTimeout time.Duration
	// RefreshInterval of cached forecasts. Default 30s.
	RefreshInterval time.Duration
	// Reactive reads current values for reactive floors (may be nil).
	Reactive ReactiveSource
	// Logger, default slog.Default().
	Logger *slog.Logger
	// Ready, when set, receives the bound addresses once listening.
	Ready func(grpcAddr, metricsAddr string)
}

// Serve runs the scaler until ctx is done.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RuntimeTimeout <= 0 {
		o.RuntimeTimeout = 5 * time.Second
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	client := NewOIPClient(o.RuntimeTimeout, nil)
	defer client.Close()
	srv, err := New(Config{
		RuntimeAddress:  o.RuntimeAddress,
		Resolver:        o.Resolver,
		Forecasts:       client,
		Reactive:        o.Reactive,
		RefreshInterval: o.RefreshInterval,
		Metrics:         NewMetrics(reg),
		Logger:          o.Logger,
	})
	if err != nil {
		return err
	}

	var gopts []grpc.ServerOption
	if o.TLSCertFile != "" || o.TLSKeyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("scaler: tls: %w", err)
		}
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	}
	g := grpc.NewServer(gopts...)
	externalscaler.RegisterExternalScalerServer(g, srv)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("externalscaler.ExternalScaler", healthpb.HealthCheckResponse_SERVING)

	glis, err := net.Listen("tcp", net.JoinHostPort(o.ListenAddress, fmt.Sprint(o.GRPCPort)))
	if err != nil {
		return fmt.Errorf("scaler: listen grpc: %w", err)
	}
	var hsrv *http.Server
	metricsAddr := ""
	errc := make(chan error, 2)
	if o.MetricsPort >= 0 {
		hlis, err := net.Listen("tcp", net.JoinHostPort(o.ListenAddress, fmt.Sprint(o.MetricsPort)))
		if err != nil {
			glis.Close()
			return fmt.Errorf("scaler: listen metrics: %w", err)
		}
		metricsAddr = hlis.Addr().String()
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		hsrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := hsrv.Serve(hlis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("scaler: metrics server: %w", err)
			}
		}()
	}
	go func() {
		if err := g.Serve(glis); err != nil {
			errc <- fmt.Errorf("scaler: grpc server: %w", err)
		}
	}()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go srv.Run(rctx)
	o.Logger.Info("scaler serving", "grpc", glis.Addr().String(), "metrics", metricsAddr, "runtime", o.RuntimeAddress)
	if o.Ready != nil {
		o.Ready(glis.Addr().String(), metricsAddr)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		g.Stop()
		return err
	}
	hs.Shutdown()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		g.Stop()
	}
	if hsrv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := hsrv.Shutdown(sctx); err != nil {
			return fmt.Errorf("scaler: metrics shutdown: %w", err)
		}
	}
	return nil
}
