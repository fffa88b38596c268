// Package local runs PPA's whole loop in one process, for a laptop: the
// trainer (host/trainer) writes model versions into a store, the inference
// runtime (host/runtime) serves the newest one over the Open Inference
// Protocol v2, and the KEDA external scaler (host/scaler) turns the
// runtime's forecasts into metric values over gRPC, all on loopback by
// default. It is the engine room of `ppa up`.
//
// A Stack trains once before it serves (Train), then starts the runtime and
// the scaler (Start); Run does both and retrains every Options.Retrain
// until its context ends. After each training the runtime reloads the new
// version at once (hot reload) and the scaler refetches its forecasts.
//
// # Clock
//
// The runtime and the scaler forecast for "now". A model trained on a
// historical CSV file forecasts for the wall clock, far after its data: an
// extrapolation. Options.ClockOffset shifts the clock of the runtime and
// the scaler (not of the trainer or the store, whose timestamps stay real),
// and ClockOffsetToEnd computes the offset that makes "now" the end of a
// CSV file, for demos.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/ppa-autoscaler/ppa/host/runtime"
	"github.com/ppa-autoscaler/ppa/host/scaler"
	"github.com/ppa-autoscaler/ppa/host/series"
	"github.com/ppa-autoscaler/ppa/host/trainer"
)

// Defaults of Options.
const (
	// DefaultListenAddress keeps every port on loopback.
	DefaultListenAddress = "127.0.0.1"
	// DefaultScalerPort is the KEDA external scaler's gRPC port.
	DefaultScalerPort = 9090
	// DefaultRetrain is the period between trainings.
	DefaultRetrain = time.Hour
	// DefaultShutdownTimeout bounds a graceful shutdown.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultRuntimeTimeout bounds one call of the scaler to the runtime.
	DefaultRuntimeTimeout = 5 * time.Second
)

// Options configure a Stack.
type Options struct {
	// Train is the training each Train call runs: model, data source
	// (CSV or Prometheus), plugin, parameters, store and engine. Its
	// Version must be empty (each training writes a new version) and its
	// Store is also what the runtime serves from. Its Now, when nil, is
	// Options.Now.
	Train trainer.Options

	// ListenAddress is the interface every port binds; default
	// DefaultListenAddress. Use 0.0.0.0 to let a cluster reach the scaler.
	ListenAddress string
	// HTTPPort and GRPCPort are the runtime's REST and gRPC ports,
	// ScalerPort the scaler's. 0 picks a free port (see Endpoints).
	HTTPPort, GRPCPort, ScalerPort int
	// Runtime, when set, adjusts the runtime's options (cache directory,
	// forecast cache, limits) before the stack sets the ports, the store,
	// the model and the clock. Nil means runtime.NewOptions().
	Runtime *runtime.Options
	// ScalerRefresh is how often the scaler refetches its cached
	// forecasts; 0 means the scaler's default (30s).
	ScalerRefresh time.Duration

	// Retrain is the period between trainings in Run; 0 trains once.
	Retrain time.Duration
	// ClockOffset is added to the wall clock for the runtime and the
	// scaler (see the package documentation).
	ClockOffset time.Duration
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
	// ShutdownTimeout bounds a graceful shutdown; 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Logger receives the stack's logs; nil discards them.
	Logger *slog.Logger
}

// Endpoints are the bound addresses of a started Stack.
type Endpoints struct {
	// RuntimeHTTP is the runtime's REST address (host:port), RuntimeGRPC
	// its gRPC address and Scaler the KEDA external scaler's.
	RuntimeHTTP, RuntimeGRPC, Scaler string
}

// Stack is the trainer, runtime and scaler of one model in one process.
// Create it with New; Train, Start, then Shutdown (or use Run).
type Stack struct {
	o     Options
	log   *slog.Logger
	clock func() time.Time

	trainMu sync.Mutex // one training at a time

	mu      sync.Mutex
	started bool
	rt      *runtime.Server
	sc      *scaler.Server
	client  *scaler.OIPClient
	grpcSrv *grpc.Server
	health  *health.Server
	lis     net.Listener
	cancel  context.CancelFunc
	done    chan struct{} // closed when the scaler's goroutines ended
	errc    chan error
}

// New validates o and returns a Stack that has not trained or listened
// yet.
func New(o Options) (*Stack, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Train.Now == nil {
		o.Train.Now = o.Now
	}
	if o.ListenAddress == "" {
		o.ListenAddress = DefaultListenAddress
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if err := o.Train.Model.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("model: %w", err))
	}
	if o.Train.Store == nil {
		errs = append(errs, errors.New("no store"))
	}
	if o.Train.Version != "" {
		errs = append(errs, fmt.Errorf("training version %q: must be empty, each training writes a new version", o.Train.Version))
	}
	for _, p := range []struct {
		name string
		port int
	}{{"http port", o.HTTPPort}, {"grpc port", o.GRPCPort}, {"scaler port", o.ScalerPort}} {
		if p.port < 0 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("%s %d: want 0..65535", p.name, p.port))
		}
	}
	if o.Retrain < 0 {
		errs = append(errs, fmt.Errorf("retrain period %v: must not be negative", o.Retrain))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("local: %w", err)
	}
	offset, now := o.ClockOffset, o.Now
	return &Stack{o: o, log: log, clock: func() time.Time { return now().Add(offset) }}, nil
}

// ClockOffsetToEnd returns the clock offset that makes now the time of the
// last row of the CSV file at path (see the package documentation).
func ClockOffsetToEnd(path string, now time.Time) (time.Duration, error) {
	s, err := series.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("clock offset: %w", err)
	}
	if s.Len() == 0 {
		return 0, fmt.Errorf("clock offset: %s has no rows", path)
	}
	return s.Time(s.Len() - 1).Sub(now), nil
}

// Clock returns the stack's time: the wall clock plus Options.ClockOffset.
func (s *Stack) Clock() time.Time { return s.clock() }

// Train runs one training (Options.Train). Once the stack has started,
// the runtime then loads the new version and the scaler refetches its
// forecasts, so that both answer with it when Train returns. A model the
// quality gate rejects is stored but not served; Train reports it in the
// result, not as an error.
func (s *Stack) Train(ctx context.Context) (*trainer.Result, error) {
	s.trainMu.Lock()
	defer s.trainMu.Unlock()
	res, err := trainer.Run(ctx, s.o.Train)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	rt, sc := s.rt, s.sc
	s.mu.Unlock()
	if rt != nil {
		if err := rt.Sync(ctx); err != nil {
			return res, fmt.Errorf("local: runtime reload after training %s: %w", res.Version, err)
		}
		sc.Refresh(ctx)
	}
	return res, nil
}

// Start starts the runtime, serving Options.Train.Model from the store,
// and the scaler pointing at the runtime, and returns their addresses once
// both listen and the model has loaded. It fails when the store holds no
// version of the model that may serve (train first).
func (s *Stack) Start(ctx context.Context) (Endpoints, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return Endpoints{}, errors.New("local: already started")
	}
	ro := runtime.NewOptions()
	if s.o.Runtime != nil {
		ro = *s.o.Runtime
	}
	ro.ListenAddress = s.o.ListenAddress
	ro.HTTPPort, ro.GRPCPort = s.o.HTTPPort, s.o.GRPCPort
	ro.Store = s.o.Train.Store
	ro.StoreURI = ""
	ro.Models = []string{s.o.Train.Model.String()}
	ro.ModelDir = ""
	ro.Now = s.clock
	ro.Tick = s.o.Now
	ro.Logger = s.log.With("component", "runtime")
	rt, err := runtime.New(ctx, ro)
	if err != nil {
		return Endpoints{}, fmt.Errorf("local: %w", err)
	}
	if err := rt.Start(ctx); err != nil {
		rt.Shutdown(context.WithoutCancel(ctx))
		return Endpoints{}, fmt.Errorf("local: %w", err)
	}
	stopRuntime := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.ShutdownTimeout)
		defer cancel()
		rt.Shutdown(sctx)
	}
	// The runtime loads in the background; a Sync waits for that load
	// (syncs are serialised) and the model must then serve.
	if err := rt.Sync(ctx); err != nil {
		stopRuntime()
		return Endpoints{}, fmt.Errorf("local: runtime: %w", err)
	}
	if !rt.Ready() {
		why := "no version loaded"
		for _, st := range rt.Models() {
			if st.LastError != "" {
				why = st.LastError
			}
		}
		stopRuntime()
		return Endpoints{}, fmt.Errorf("local: runtime cannot serve model %s: %s", s.o.Train.Model, why)
	}

	client := scaler.NewOIPClient(DefaultRuntimeTimeout, nil)
	sc, err := scaler.New(scaler.Config{
		RuntimeAddress:  rt.GRPCAddr(),
		Forecasts:       client,
		Reactive:        &scaler.PrometheusReactive{},
		Clock:           s.clock,
		RefreshInterval: s.o.ScalerRefresh,
		Logger:          s.log.With("component", "scaler"),
	})
	if err != nil {
		client.Close()
		stopRuntime()
		return Endpoints{}, fmt.Errorf("local: %w", err)
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(s.o.ListenAddress, strconv.Itoa(s.o.ScalerPort)))
	if err != nil {
		client.Close()
		stopRuntime()
		return Endpoints{}, fmt.Errorf("local: scaler: %w", err)
	}
	g := grpc.NewServer()
	externalscaler.RegisterExternalScalerServer(g, sc)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("externalscaler.ExternalScaler", healthpb.HealthCheckResponse_SERVING)
	// Reflection lets grpcurl call the scaler without its proto file.
	reflection.Register(g)

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.rt, s.sc, s.client, s.grpcSrv, s.health, s.lis, s.cancel = rt, sc, client, g, hs, lis, cancel
	s.done, s.errc = make(chan struct{}), make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := g.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.errc <- fmt.Errorf("local: scaler: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		sc.Run(bg)
	}()
	go func() {
		wg.Wait()
		close(s.done)
	}()
	s.started = true
	ep := Endpoints{RuntimeHTTP: rt.HTTPAddr(), RuntimeGRPC: rt.GRPCAddr(), Scaler: lis.Addr().String()}
	s.log.Info("local stack serving", "model", s.o.Train.Model.String(), "runtime_http", ep.RuntimeHTTP,
		"runtime_grpc", ep.RuntimeGRPC, "scaler", ep.Scaler, "clock_offset", s.o.ClockOffset)
	return ep, nil
}

// Err returns a channel that receives an error when a listener fails
// after Start; nil before Start.
func (s *Stack) Err() <-chan error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rt == nil {
		return nil
	}
	out := make(chan error, 1)
	rtErr, scErr := s.rt.Err(), s.errc
	go func() {
		select {
		case err := <-rtErr:
			out <- err
		case err := <-scErr:
			out <- err
		case <-s.done:
		}
	}()
	return out
}

// Shutdown stops the scaler (letting calls in flight finish until ctx is
// done), then the runtime. It is safe to call on a stack that never
// started, and more than once.
func (s *Stack) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return nil
	}
	s.started = false
	var errs []error
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.grpcSrv.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.grpcSrv.Stop()
		<-stopped
	}
	s.cancel()
	select {
	case <-s.done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("local: waiting for the scaler to stop: %w", ctx.Err()))
	}
	if err := s.client.Close(); err != nil {
		errs = append(errs, fmt.Errorf("local: scaler's runtime client: %w", err))
	}
	if err := s.rt.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("local: %w", err))
	}
	s.rt, s.sc = nil, nil
	return errors.Join(errs...)
}

// Hooks let the caller of Run report what happens.
type Hooks struct {
	// Trained is called after each training: the first, which Run waits
	// for before it serves, and every retraining. A failed retraining
	// (err != nil) leaves the previous version serving.
	Trained func(first bool, res *trainer.Result, err error)
	// Serving is called once the runtime and the scaler listen and the
	// model has loaded.
	Serving func(Endpoints)
}

// Run trains once (failing when that training fails), starts the stack,
// retrains every Options.Retrain until ctx is done, and shuts down
// gracefully. A listener failure ends Run with its error.
func Run(ctx context.Context, o Options, h Hooks) error {
	s, err := New(o)
	if err != nil {
		return err
	}
	res, err := s.Train(ctx)
	if h.Trained != nil {
		h.Trained(true, res, err)
	}
	if err != nil {
		return err
	}
	if res.Rejected {
		return fmt.Errorf("local: the quality gate rejected the first version of %s (%s): nothing to serve", res.Model, res.Reason)
	}
	ep, err := s.Start(ctx)
	if err != nil {
		return err
	}
	if h.Serving != nil {
		h.Serving(ep)
	}
	runErr := s.loop(ctx, h)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.ShutdownTimeout)
	defer cancel()
	s.log.Info("local stack shutting down")
	return errors.Join(runErr, s.Shutdown(sctx))
}

// loop retrains every Options.Retrain until ctx is done or a listener
// fails.
func (s *Stack) loop(ctx context.Context, h Hooks) error {
	failed := s.Err()
	var tick <-chan time.Time
	if s.o.Retrain > 0 {
		t := time.NewTicker(s.o.Retrain)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-failed:
			return err
		case <-tick:
			res, err := s.Train(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				s.log.Warn("retraining failed; the previous version keeps serving", "model", s.o.Train.Model.String(), "err", err)
			}
			if h.Trained != nil {
				h.Trained(false, res, err)
			}
		}
	}
}
