package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/runtime"
	"github.com/ppa-autoscaler/ppa/host/runtime/inferencepb"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

const (
	seasonalNaivePkg = "./plugins/seasonalnaive/wasm"
	hostilePkg       = "./host/runtime/testdata/hostile"
	stepSeconds      = 60
	namespace        = "team-a"
)

// trainEnd is the end of every training window; the fixed clock starts a
// little later, off the step grid.
var trainEnd = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// env is a store with plugins and models, and an engine to train with and
// to compute the expected predictions directly.
type env struct {
	t       testing.TB
	st      store.Store
	uri     string
	s3      store.S3Options
	eng     *engine.Engine
	clock   *clock
	plugins map[string]store.PluginMeta // by package
}

// newS3Env starts MinIO and opens a store in a fresh bucket.
func newS3Env(t testing.TB) *env {
	t.Helper()
	m := testenv.MinIO(t)
	bucket := m.NewBucket(t)
	s3 := store.S3Options{Endpoint: m.Endpoint, Insecure: true, AccessKey: m.AccessKey, SecretKey: m.SecretKey}
	return newEnv(t, "s3://"+bucket+"/ppa", s3)
}

// newDirEnv opens a store in a temporary directory.
func newDirEnv(t testing.TB) *env {
	t.Helper()
	return newEnv(t, t.TempDir(), store.S3Options{})
}

func newEnv(t testing.TB, uri string, s3 store.S3Options) *env {
	t.Helper()
	ctx := context.Background()
	noEnv := func(string) string { return "" }
	st, err := store.Open(ctx, uri, store.WithS3(s3), store.WithGetenv(noEnv))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	eng, err := engine.New(ctx, engine.NewConfig().WithCallTimeout(time.Minute).WithCacheDir(compileCache))
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	return &env{t: t, st: st, uri: uri, s3: s3, eng: eng, clock: newClock(trainEnd.Add(30*time.Minute + 17*time.Second)),
		plugins: map[string]store.PluginMeta{}}
}

// plugin builds the plugin package and stores it (once).
func (e *env) plugin(pkg string) store.PluginMeta {
	e.t.Helper()
	if meta, ok := e.plugins[pkg]; ok {
		return meta
	}
	wasm := testwasm.Build(e.t, pkg)
	p, err := e.eng.Load(context.Background(), wasm, "")
	if err != nil {
		e.t.Fatalf("load %s: %v", pkg, err)
	}
	d := p.Description()
	meta, err := e.st.PutPlugin(context.Background(), store.PluginMeta{
		Name: d.Name, Version: d.Version, ABIVersion: abi.VersionString(p.ABIVersion()), Description: d,
	}, wasm)
	if err != nil {
		e.t.Fatalf("put plugin %s: %v", pkg, err)
	}
	e.plugins[pkg] = meta
	return meta
}

// series is three days of one-minute data with a daily shape; level and
// amplitude tell models apart.
func series(level, amplitude float64) ([]int64, []float64) {
	n := 3 * 24 * 60
	ts := make([]int64, n)
	ys := make([]float64, n)
	start := trainEnd.Add(-time.Duration(n-1) * time.Minute).UnixMilli()
	for i := range n {
		ts[i] = start + int64(i)*stepSeconds*1000
		phase := 2 * math.Pi * float64(i%1440) / 1440
		ys[i] = level + amplitude*math.Sin(phase) + float64((i*37)%11)
	}
	return ts, ys
}

// model trains a model with the plugin package and stores it as version.
func (e *env) model(pkg, name, version string, params abi.Params, level, amplitude float64) store.Manifest {
	e.t.Helper()
	return e.modelWithPolicy(pkg, name, version, params, level, amplitude, nil)
}

// modelWithPolicy is model with pol as the manifest's scaling policy.
func (e *env) modelWithPolicy(pkg, name, version string, params abi.Params, level, amplitude float64, pol json.RawMessage) store.Manifest {
	e.t.Helper()
	ctx := context.Background()
	meta := e.plugin(pkg)
	_, wasm, err := e.st.GetPlugin(ctx, meta.Name, meta.Version)
	if err != nil {
		e.t.Fatalf("get plugin: %v", err)
	}
	p, err := e.eng.Load(ctx, wasm, meta.SHA256)
	if err != nil {
		e.t.Fatalf("load plugin: %v", err)
	}
	ts, ys := series(level, amplitude)
	resp, err := p.Train(ctx, &abi.TrainRequest{Params: params, Seed: 7, Timestamps: ts, Values: ys})
	if err != nil {
		e.t.Fatalf("train %s: %v", name, err)
	}
	man, err := e.st.PutModel(ctx, store.Manifest{
		Model:   store.ModelRef{Namespace: namespace, Name: name},
		Version: version,
		Plugin:  store.PluginRef{Name: meta.Name, Version: meta.Version, SHA256: meta.SHA256},
		Data: store.DataWindow{Source: "test", Start: time.UnixMilli(ts[0]).UTC(), End: time.UnixMilli(ts[len(ts)-1]).UTC(),
			Step: store.Duration(stepSeconds * time.Second), Points: len(ts)},
		Parameters: params,
		Seed:       7,
		Gate:       store.Gate{Accepted: true},
		Trainer:    store.TrainerInfo{Version: "test"},
		Policy:     pol,
	}, resp.Model)
	if err != nil {
		e.t.Fatalf("put model %s: %v", name, err)
	}
	return man
}

// direct predicts the unix-second times ds with the engine, as the runtime
// should.
func (e *env) direct(man store.Manifest, ds []int64) *abi.PredictResponse {
	e.t.Helper()
	ctx := context.Background()
	_, model, err := e.st.GetModel(ctx, man.Model, man.Version)
	if err != nil {
		e.t.Fatalf("get model: %v", err)
	}
	_, wasm, err := e.st.GetPlugin(ctx, man.Plugin.Name, man.Plugin.Version)
	if err != nil {
		e.t.Fatalf("get plugin: %v", err)
	}
	p, err := e.eng.Load(ctx, wasm, man.Plugin.SHA256)
	if err != nil {
		e.t.Fatalf("load plugin: %v", err)
	}
	ms := make([]int64, len(ds))
	for i, t := range ds {
		ms[i] = t * 1000
	}
	resp, err := p.Predict(ctx, &abi.PredictRequest{Model: model, Seed: man.Seed, Timestamps: ms})
	if err != nil {
		e.t.Fatalf("direct predict: %v", err)
	}
	return resp
}

// options are the runtime options of the tests: loopback, free ports, the
// env's store and clock.
func (e *env) options(models ...string) runtime.Options {
	o := runtime.NewOptions()
	o.ListenAddress = "127.0.0.1"
	o.HTTPPort, o.GRPCPort = 0, 0
	o.StoreURI = e.uri
	o.S3 = e.s3
	o.Models = models
	o.Namespace = namespace
	o.PollInterval = 50 * time.Millisecond
	o.CacheDir = compileCache
	o.Now = e.clock.Now
	o.Logger = testLogger(e.t)
	return o
}

// testLogger logs to the test's output when -v is given, else discards.
func testLogger(t testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// server is a started runtime with clients for both protocols.
type server struct {
	*runtime.Server
	base string
	conn *grpc.ClientConn
	grpc inferencepb.GRPCInferenceServiceClient
}

// start starts a runtime with opts and waits until it is ready (when
// wantReady).
func start(t testing.TB, opts runtime.Options, wantReady bool) *server {
	t.Helper()
	ctx := context.Background()
	srv, err := runtime.New(ctx, opts)
	if err != nil {
		t.Fatalf("runtime.New: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("runtime.Start: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	conn := dialConn(t, srv.GRPCAddr())
	s := &server{Server: srv, base: "http://" + srv.HTTPAddr(), conn: conn, grpc: inferencepb.NewGRPCInferenceServiceClient(conn)}
	if wantReady {
		waitFor(t, "runtime ready", func() bool { return s.get("/v2/health/ready").status == http.StatusOK })
	}
	return s
}

// dialConn returns a gRPC connection to addr, closed when the test ends.
func dialConn(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc client: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// dialGRPC returns an OIP client for addr, closed when the test ends.
func dialGRPC(t testing.TB, addr string) inferencepb.GRPCInferenceServiceClient {
	t.Helper()
	return inferencepb.NewGRPCInferenceServiceClient(dialConn(t, addr))
}

// waitFor polls cond until it holds, failing after a minute.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type httpResult struct {
	status int
	body   []byte
}

func (s *server) get(path string) httpResult {
	resp, err := http.Get(s.base + path)
	if err != nil {
		return httpResult{status: -1, body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, body: b}
}

func (s *server) post(path string, body []byte) httpResult {
	resp, err := http.Post(s.base+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return httpResult{status: -1, body: []byte(err.Error())}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResult{status: resp.StatusCode, body: b}
}

// restResponse is the JSON inference response.
type restResponse struct {
	ModelName    string `json:"model_name"`
	ModelVersion string `json:"model_version"`
	ID           string `json:"id"`
	Outputs      []struct {
		Name     string            `json:"name"`
		Datatype string            `json:"datatype"`
		Shape    []int64           `json:"shape"`
		Data     []json.RawMessage `json:"data"`
	} `json:"outputs"`
}

// forecast is a decoded answer of either protocol.
type forecast struct {
	version            string
	ds                 []int64
	yhat, lower, upper []float64
}

// inferBody builds a JSON request; nil pointers leave the input out.
func inferBody(horizon int64, start, step *int64) []byte {
	type tensor struct {
		Name     string  `json:"name"`
		Shape    []int64 `json:"shape"`
		Datatype string  `json:"datatype"`
		Data     []int64 `json:"data"`
	}
	req := struct {
		ID     string   `json:"id"`
		Inputs []tensor `json:"inputs"`
	}{ID: "req-1", Inputs: []tensor{{Name: "horizon", Shape: []int64{1}, Datatype: "INT64", Data: []int64{horizon}}}}
	if start != nil {
		req.Inputs = append(req.Inputs, tensor{Name: "start", Shape: []int64{1}, Datatype: "INT64", Data: []int64{*start}})
	}
	if step != nil {
		req.Inputs = append(req.Inputs, tensor{Name: "step", Shape: []int64{1}, Datatype: "INT64", Data: []int64{*step}})
	}
	b, err := json.Marshal(req)
	if err != nil {
		panic(err)
	}
	return b
}

// restInfer asks over REST and decodes the answer.
func (s *server) restInfer(model string, horizon int64, start, step *int64) (forecast, error) {
	r := s.post("/v2/models/"+model+"/infer", inferBody(horizon, start, step))
	if r.status != http.StatusOK {
		return forecast{}, fmt.Errorf("status %d: %s", r.status, r.body)
	}
	var resp restResponse
	if err := json.Unmarshal(r.body, &resp); err != nil {
		return forecast{}, fmt.Errorf("decode %s: %w", r.body, err)
	}
	if resp.ModelName != model || resp.ID != "req-1" {
		return forecast{}, fmt.Errorf("response for model %q id %q", resp.ModelName, resp.ID)
	}
	f := forecast{version: resp.ModelVersion}
	for _, o := range resp.Outputs {
		if len(o.Shape) != 1 || o.Shape[0] != int64(len(o.Data)) {
			return forecast{}, fmt.Errorf("output %s: shape %v with %d values", o.Name, o.Shape, len(o.Data))
		}
		switch o.Name {
		case "ds":
			if o.Datatype != "INT64" {
				return forecast{}, fmt.Errorf("ds: datatype %s", o.Datatype)
			}
			for _, v := range o.Data {
				var x int64
				if err := json.Unmarshal(v, &x); err != nil {
					return forecast{}, fmt.Errorf("ds: %w", err)
				}
				f.ds = append(f.ds, x)
			}
		case "yhat", "yhat_lower", "yhat_upper":
			if o.Datatype != "FP64" {
				return forecast{}, fmt.Errorf("%s: datatype %s", o.Name, o.Datatype)
			}
			var xs []float64
			for _, v := range o.Data {
				var x float64
				if err := json.Unmarshal(v, &x); err != nil {
					return forecast{}, fmt.Errorf("%s: %w", o.Name, err)
				}
				xs = append(xs, x)
			}
			switch o.Name {
			case "yhat":
				f.yhat = xs
			case "yhat_lower":
				f.lower = xs
			default:
				f.upper = xs
			}
		default:
			return forecast{}, fmt.Errorf("unexpected output %q", o.Name)
		}
	}
	return f, nil
}

// grpcRequest builds a gRPC request in contents or raw form.
func grpcRequest(model string, raw bool, horizon int64, start, step *int64) *inferencepb.ModelInferRequest {
	req := &inferencepb.ModelInferRequest{ModelName: model, Id: "req-1"}
	add := func(name string, v int64) {
		t := &inferencepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "INT64", Shape: []int64{1}}
		if raw {
			b := make([]byte, 8)
			for i := range 8 {
				b[i] = byte(uint64(v) >> (8 * i))
			}
			req.RawInputContents = append(req.RawInputContents, b)
		} else {
			t.Contents = &inferencepb.InferTensorContents{Int64Contents: []int64{v}}
		}
		req.Inputs = append(req.Inputs, t)
	}
	add("horizon", horizon)
	if start != nil {
		add("start", *start)
	}
	if step != nil {
		add("step", *step)
	}
	return req
}

// grpcInfer asks over gRPC and decodes the answer.
func (s *server) grpcInfer(ctx context.Context, model string, raw bool, horizon int64, start, step *int64) (forecast, error) {
	resp, err := s.grpc.ModelInfer(ctx, grpcRequest(model, raw, horizon, start, step))
	if err != nil {
		return forecast{}, err
	}
	if resp.GetModelName() != model || resp.GetId() != "req-1" {
		return forecast{}, fmt.Errorf("response for model %q id %q", resp.GetModelName(), resp.GetId())
	}
	if raw != (len(resp.GetRawOutputContents()) > 0) {
		return forecast{}, fmt.Errorf("raw request: %v, raw response with %d entries", raw, len(resp.GetRawOutputContents()))
	}
	f := forecast{version: resp.GetModelVersion()}
	for i, o := range resp.GetOutputs() {
		var ints []int64
		var floats []float64
		if raw {
			b := resp.GetRawOutputContents()[i]
			for j := 0; j+8 <= len(b); j += 8 {
				var u uint64
				for k := range 8 {
					u |= uint64(b[j+k]) << (8 * k)
				}
				ints = append(ints, int64(u))
				floats = append(floats, math.Float64frombits(u))
			}
		} else {
			ints = o.GetContents().GetInt64Contents()
			floats = o.GetContents().GetFp64Contents()
		}
		switch o.GetName() {
		case "ds":
			f.ds = ints
		case "yhat":
			f.yhat = floats
		case "yhat_lower":
			f.lower = floats
		case "yhat_upper":
			f.upper = floats
		default:
			return forecast{}, fmt.Errorf("unexpected output %q", o.GetName())
		}
		n := len(ints)
		if !raw && o.GetDatatype() == "FP64" {
			n = len(floats)
		}
		if len(o.GetShape()) != 1 || o.GetShape()[0] != int64(n) {
			return forecast{}, fmt.Errorf("output %s: shape %v with %d values", o.GetName(), o.GetShape(), n)
		}
	}
	return f, nil
}

// checkForecast compares an answer with the engine's direct output for the
// expected times, bit for bit.
func checkForecast(t testing.TB, e *env, man store.Manifest, got forecast, wantDS []int64) {
	t.Helper()
	if got.version != man.Version {
		t.Errorf("model_version %q, want %q", got.version, man.Version)
	}
	if !equalInts(got.ds, wantDS) {
		t.Fatalf("ds = %v, want %v", head(got.ds), head(wantDS))
	}
	want := e.direct(man, wantDS)
	for _, c := range []struct {
		name      string
		got, want []float64
	}{{"yhat", got.yhat, want.Yhat}, {"yhat_lower", got.lower, want.Lower}, {"yhat_upper", got.upper, want.Upper}} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: %d values, want %d", c.name, len(c.got), len(c.want))
		}
		for i := range c.got {
			if math.Float64bits(c.got[i]) != math.Float64bits(c.want[i]) {
				t.Fatalf("%s[%d] (t=%d) = %v, engine says %v", c.name, i, wantDS[i], c.got[i], c.want[i])
			}
		}
	}
}

func grid(start, step int64, n int) []int64 {
	ds := make([]int64, n)
	for i := range ds {
		ds[i] = start + int64(i)*step
	}
	return ds
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func head(xs []int64) []int64 {
	if len(xs) > 5 {
		return xs[:5]
	}
	return xs
}

func ptr(v int64) *int64 { return &v }

// writeFile writes a file for a model directory test.
func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
