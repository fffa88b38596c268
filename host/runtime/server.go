// Package runtime is PPA's model server: a KServe custom serving runtime
// that answers forecasts over the Open Inference Protocol v2, on REST and
// gRPC, by calling forecaster plugins (WebAssembly, run by host/engine).
//
// A Server serves many models at once. Each model version is fetched from a
// store (or KServe's model directory), verified against its digests and
// served by its plugin, compiled once per process and shared by every
// model that uses it. New versions are picked up by polling and swapped in
// without dropping requests (see package modelset). README.md beside this
// file documents the tensors, with JSON and gRPC examples.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/reflection"

	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/runtime/inferencepb"
	"github.com/ppa-autoscaler/ppa/host/runtime/modelset"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

// Server is the inference server. Create it with New, then Start it; stop
// it with Shutdown.
type Server struct {
	opts    Options
	log     *slog.Logger
	engine  *engine.Engine
	set     *modelset.Set
	metrics *metrics

	httpSrv *http.Server
	grpcSrv *grpc.Server

	mu       sync.Mutex
	started  bool
	httpLn   net.Listener
	grpcLn   net.Listener
	cancel   context.CancelFunc
	done     chan struct{} // closed when the background goroutines ended
	serveErr chan error
}

// New validates opts, opens the store and the plugin engine and prepares
// the handlers. It does not listen or load models: Start does.
func New(ctx context.Context, opts Options) (*Server, error) {
	specs, err := opts.validate()
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Tick == nil {
		opts.Tick = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log}

	st := opts.Store
	if st == nil && opts.StoreURI != "" {
		s3 := opts.S3
		s3.DisableVersioning = true
		st, err = store.Open(ctx, opts.StoreURI, store.WithLogger(log), store.WithClock(opts.Now), store.WithS3(s3))
		if err != nil {
			return nil, fmt.Errorf("runtime: %w", err)
		}
	}
	var src modelset.Source
	if len(specs) > 0 {
		src, err = modelset.NewStoreSource(st, specs, !opts.ServeRejected)
	} else {
		src, err = modelset.NewDirSource(opts.ModelDir, st)
	}
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}

	// The metrics need the set and the engine's observer needs the
	// metrics: tie the knot through the server.
	cfg := engine.NewConfig().
		WithTrustedDigests(builtin.Digests()...).
		WithCacheDir(opts.CacheDir).
		WithCallTimeout(opts.PluginTimeout).
		WithLogger(log).
		WithClock(opts.Tick).
		WithObserver(func(ci engine.CallInfo) { s.metrics.observeCall(ci) })
	if opts.PluginInstances > 0 {
		cfg = cfg.WithPoolSize(opts.PluginInstances)
	}
	if opts.PluginIsolation != "" {
		cfg = cfg.WithIsolation(opts.PluginIsolation)
	}
	s.engine, err = engine.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	s.set, err = modelset.New(modelset.Config{
		Source: src,
		Loader: engineLoader{s.engine},
		Cache: modelset.CacheConfig{
			Window:    opts.ForecastCacheWindow,
			MaxPoints: opts.ForecastCachePoints,
			Timeout:   opts.RequestTimeout,
		},
		Now:    opts.Now,
		Tick:   opts.Tick,
		Logger: log,
	})
	if err != nil {
		s.engine.Close(ctx)
		return nil, fmt.Errorf("runtime: %w", err)
	}
	s.metrics = newMetrics(s.set)
	s.httpSrv = &http.Server{
		Handler:           s.restHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       opts.RequestTimeout + 10*time.Second,
		WriteTimeout:      opts.RequestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.grpcSrv = grpc.NewServer(
		grpc.MaxRecvMsgSize(int(opts.MaxBodyBytes)),
		grpc.ChainUnaryInterceptor(s.recoverInterceptor, s.timeoutInterceptor),
	)
	inferencepb.RegisterGRPCInferenceServiceServer(s.grpcSrv, &grpcService{s: s})
	// Reflection lets tools such as grpcurl call the API without the proto.
	reflection.Register(s.grpcSrv)
	log.Info("runtime configured", "source", src.String(), "models", len(specs), "cache_dir", opts.CacheDir,
		"poll_interval", opts.PollInterval, "forecast_cache_window", opts.ForecastCacheWindow)
	return s, nil
}

// engineLoader adapts the engine to modelset.Loader.
type engineLoader struct{ e *engine.Engine }

func (l engineLoader) Load(ctx context.Context, wasm []byte, sha256 string) (modelset.Plugin, error) {
	p, err := l.e.Load(ctx, wasm, sha256)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Start listens on the HTTP and gRPC ports, serves, and loads the models in
// the background (polling for new versions every PollInterval). It
// returns once both ports listen; the server is ready (see
// /v2/health/ready) when every model has loaded (see Ready).
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("runtime: already started")
	}
	httpLn, err := net.Listen("tcp", net.JoinHostPort(s.opts.ListenAddress, strconv.Itoa(s.opts.HTTPPort)))
	if err != nil {
		return fmt.Errorf("runtime: http: %w", err)
	}
	grpcLn, err := net.Listen("tcp", net.JoinHostPort(s.opts.ListenAddress, strconv.Itoa(s.opts.GRPCPort)))
	if err != nil {
		httpLn.Close()
		return fmt.Errorf("runtime: grpc: %w", err)
	}
	s.started = true
	s.httpLn, s.grpcLn = httpLn, grpcLn
	s.serveErr = make(chan error, 2)
	s.done = make(chan struct{})
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		if err := s.httpSrv.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- fmt.Errorf("runtime: http: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := s.grpcSrv.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.serveErr <- fmt.Errorf("runtime: grpc: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		s.set.Run(bg, s.opts.PollInterval)
	}()
	go func() {
		wg.Wait()
		close(s.done)
	}()
	s.log.Info("runtime listening", "http", httpLn.Addr().String(), "grpc", grpcLn.Addr().String())
	return nil
}

// HTTPAddr is the address the REST API listens on (after Start).
func (s *Server) HTTPAddr() string { return addr(s.httpLn) }

// GRPCAddr is the address the gRPC API listens on (after Start).
func (s *Server) GRPCAddr() string { return addr(s.grpcLn) }

func addr(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Ready reports whether the server is ready: every model is loaded, or
// with ReadyWhenListed the models were listed and loaded once.
func (s *Server) Ready() bool {
	if s.opts.ReadyWhenListed {
		return s.set.Synced()
	}
	return s.set.Ready()
}

// Models describes the served models.
func (s *Server) Models() []modelset.Status { return s.set.Statuses() }

// Sync checks the source for new versions now, as the poller does.
func (s *Server) Sync(ctx context.Context) error { return s.set.Sync(ctx) }

// Err returns a channel that receives an error when a listener fails.
func (s *Server) Err() <-chan error { return s.serveErr }

// Shutdown stops accepting requests, lets those in flight finish (until
// ctx is done), stops polling and closes the engine. It is safe to call on
// a server that was never started.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	var errs []error
	if started {
		s.cancel()
		stopped := make(chan struct{})
		go func() {
			s.grpcSrv.GracefulStop()
			close(stopped)
		}()
		if err := s.httpSrv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("runtime: http shutdown: %w", err))
			s.httpSrv.Close()
		}
		select {
		case <-stopped:
		case <-ctx.Done():
			s.grpcSrv.Stop()
			<-stopped
		}
		select {
		case <-s.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("runtime: waiting for model loading to stop: %w", ctx.Err()))
		}
	}
	if err := s.engine.Close(context.WithoutCancel(ctx)); err != nil {
		errs = append(errs, fmt.Errorf("runtime: %w", err))
	}
	return errors.Join(errs...)
}

// Run creates, starts and serves a runtime until ctx is done, then shuts it
// down gracefully. It is the body of cmd/ppa-runtime and `ppa serve`.
func Run(ctx context.Context, opts Options) error {
	s, err := New(ctx, opts)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		s.Shutdown(ctx)
		return err
	}
	if opts.Started != nil {
		opts.Started(s.HTTPAddr(), s.GRPCAddr())
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-s.Err():
	}
	timeout := opts.ShutdownTimeout
	if timeout <= 0 {
		timeout = DefaultShutdownTimeout
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	s.log.Info("runtime shutting down")
	return errors.Join(runErr, s.Shutdown(sctx))
}
