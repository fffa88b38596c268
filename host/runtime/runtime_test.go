package runtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/runtime/inferencepb"
	"github.com/ppa-autoscaler/ppa/host/store"
)

// TestPredictionsMatchEngine serves two models from MinIO and checks that
// REST, gRPC contents and gRPC raw answers equal the engine's direct
// output, with the forecast cache on and off.
func TestPredictionsMatchEngine(t *testing.T) {
	e := newS3Env(t)
	cpu := e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	rps := e.model(seasonalNaivePkg, "rps", "v0001", abi.Params{"interval_width": 0.5}, 2000, 800)
	now := e.clock.Now().Unix()
	aligned := now - now%stepSeconds
	for _, cache := range []time.Duration{0, 24 * time.Hour} {
		opts := e.options("cpu", namespace+"/rps")
		opts.ForecastCacheWindow = cache
		s := start(t, opts, true)
		cases := []struct {
			name    string
			man     store.Manifest
			horizon int64
			start   *int64
			step    *int64
			wantDS  []int64
		}{
			{"default start and step", cpu, 3600, nil, nil, grid(aligned, 60, 61)},
			{"explicit aligned start", rps, 600, ptr(aligned + 120), nil, grid(aligned+120, 60, 11)},
			{"unaligned start", cpu, 300, ptr(now), nil, grid(now, 60, 6)},
			{"coarser step", rps, 7200, nil, ptr(300), grid(now-now%300, 300, 25)},
			{"finer step than the model", cpu, 120, ptr(aligned), ptr(30), grid(aligned, 30, 5)},
			{"horizon not a multiple of the step", cpu, 150, ptr(aligned), nil, grid(aligned, 60, 3)},
			{"zero horizon", rps, 0, ptr(aligned), nil, grid(aligned, 60, 1)},
			{"two days ahead", cpu, 2 * 86400, nil, nil, grid(aligned, 60, 2*1440+1)},
		}
		for _, c := range cases {
			t.Run(cacheName(cache)+"/"+c.name, func(t *testing.T) {
				name := c.man.Model.Name
				got, err := s.restInfer(name, c.horizon, c.start, c.step)
				if err != nil {
					t.Fatalf("rest: %v", err)
				}
				checkForecast(t, e, c.man, got, c.wantDS)
				for _, raw := range []bool{false, true} {
					got, err := s.grpcInfer(context.Background(), name, raw, c.horizon, c.start, c.step)
					if err != nil {
						t.Fatalf("grpc (raw %v): %v", raw, err)
					}
					checkForecast(t, e, c.man, got, c.wantDS)
				}
			})
		}
	}
}

func cacheName(window time.Duration) string {
	if window == 0 {
		return "no cache"
	}
	return "cache"
}

// TestHorizonAnchoredToStart moves a fixed clock and checks that the
// forecast starts at the requested time (or now), never at the end of
// training.
func TestHorizonAnchoredToStart(t *testing.T) {
	e := newS3Env(t)
	man := e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	s := start(t, e.options("cpu"), true)
	for _, at := range []time.Time{
		trainEnd.Add(6 * time.Hour),
		trainEnd.Add(36*time.Hour + 90*time.Second),
		trainEnd.Add(5 * 24 * time.Hour),
	} {
		e.clock.Set(at)
		now := at.Unix()
		t.Run(at.Format(time.RFC3339), func(t *testing.T) {
			got, err := s.restInfer("cpu", 900, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkForecast(t, e, man, got, grid(now-now%60, 60, 16))
			explicit := now - 3*3600 + 7
			got, err = s.restInfer("cpu", 900, &explicit, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkForecast(t, e, man, got, grid(explicit, 60, 16))
			g, err := s.grpcInfer(context.Background(), "cpu", false, 900, &explicit, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkForecast(t, e, man, g, grid(explicit, 60, 16))
		})
	}
}

// TestHotReload hammers the runtime over both protocols while a new
// version is written to the store: every request succeeds, and the answers
// switch from the old version's to the new version's.
func TestHotReload(t *testing.T) {
	e := newS3Env(t)
	v1 := e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	other := e.model(seasonalNaivePkg, "rps", "v0001", nil, 10, 5)
	s := start(t, e.options("cpu", "rps"), true)
	now := e.clock.Now().Unix()
	aligned := now - now%60
	wantDS := grid(aligned, 60, 31)
	oldYhat := e.direct(v1, wantDS).Yhat

	workers := 8
	if testing.Short() {
		workers = 4
	}
	var (
		stop     atomic.Bool
		requests atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		versions = map[string]int{}
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				var f forecast
				var err error
				if (w+i)%2 == 0 {
					f, err = s.restInfer("cpu", 1800, nil, nil)
				} else {
					f, err = s.grpcInfer(context.Background(), "cpu", i%3 == 0, 1800, nil, nil)
				}
				requests.Add(1)
				mu.Lock()
				if err != nil {
					failures = append(failures, err.Error())
				} else {
					versions[f.version]++
				}
				mu.Unlock()
			}
		}()
	}
	waitFor(t, "requests against v1", func() bool { return requests.Load() >= 50 })
	v2 := e.model(seasonalNaivePkg, "cpu", "v0002", nil, 300, 20)
	waitFor(t, "v0002 to serve", func() bool {
		f, err := s.restInfer("cpu", 1800, nil, nil)
		return err == nil && f.version == v2.Version
	})
	after := requests.Load()
	waitFor(t, "requests against v2", func() bool { return requests.Load() >= after+50 })
	stop.Store(true)
	wg.Wait()

	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed during the reload, first: %s", len(failures), requests.Load(), failures[0])
	}
	if versions[v1.Version] == 0 || versions[v2.Version] == 0 || len(versions) != 2 {
		t.Fatalf("versions answered: %v, want both %s and %s", versions, v1.Version, v2.Version)
	}
	got, err := s.restInfer("cpu", 1800, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, e, v2, got, wantDS)
	if equalFloats(got.yhat, oldYhat) {
		t.Fatal("the new version forecasts exactly as the old one: the test cannot tell them apart")
	}
	// The other model was not reloaded.
	g, err := s.grpcInfer(context.Background(), "rps", false, 1800, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, e, other, g, wantDS)

	// A version the quality gate rejected is not picked up, nor is one that
	// fails to load; the accepted version keeps serving.
	_, model, err := e.st.GetModel(context.Background(), v2.Model, v2.Version)
	if err != nil {
		t.Fatal(err)
	}
	rejected := v2
	rejected.Version, rejected.Gate, rejected.ModelSHA256, rejected.ModelSize = "v0003", store.Gate{Accepted: false, Reason: "test"}, "", 0
	if _, err := e.st.PutModel(context.Background(), rejected, model); err != nil {
		t.Fatal(err)
	}
	broken := v2
	broken.Version, broken.ModelSHA256, broken.ModelSize = "v0004", "", 0
	if _, err := e.st.PutModel(context.Background(), broken, []byte("not a seasonal-naive model")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the broken version to fail", func() bool {
		for _, st := range s.Models() {
			if st.Name == "cpu" && strings.Contains(st.LastError, "v0004") {
				return true
			}
		}
		return false
	})
	got, err = s.restInfer("cpu", 1800, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, e, v2, got, wantDS)
	if r := s.get("/v2/health/ready"); r.status != http.StatusOK {
		t.Fatalf("ready after a failed reload: %d %s", r.status, r.body)
	}
}

func equalFloats(a, b []float64) bool {
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

// TestBadRequests sends malformed and out-of-range requests over both
// protocols: each gets the protocol's error code and a message, and the
// server keeps serving.
func TestBadRequests(t *testing.T) {
	e := newS3Env(t)
	man := e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	opts := e.options("cpu")
	opts.MaxBodyBytes = 4096
	s := start(t, opts, true)

	rest := []struct {
		name, path, body string
		status           int
		msg              string
	}{
		{"unknown model", "/v2/models/nope/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[60]}]}`, 404, `model "nope" is not served here`},
		{"unknown version", "/v2/models/cpu/versions/v9/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[60]}]}`, 404, `version "v9" is not loaded`},
		{"missing horizon", "/v2/models/cpu/infer", `{"inputs":[{"name":"start","shape":[1],"datatype":"INT64","data":[60]}]}`, 400, `input "horizon" is required`},
		{"no inputs", "/v2/models/cpu/infer", `{}`, 400, `input "horizon" is required`},
		{"wrong datatype", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"FP32","data":[60]}]}`, 400, `datatype "FP32": want INT64`},
		{"fractional value", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[1.5]}]}`, 400, `1.5 is not an INT64`},
		{"string value", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":["60"]}]}`, 400, `is not an INT64`},
		{"missing data", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64"}]}`, 400, `data: missing`},
		{"two values", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[2],"datatype":"INT64","data":[60,120]}]}`, 400, `want shape [1] and one value`},
		{"shape disagrees with data", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[60,120]}]}`, 400, `want shape [1] and one value`},
		{"negative horizon", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[-60]}]}`, 400, `must not be negative`},
		{"huge horizon", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[9223372036854775807]}]}`, 400, `more than the limit`},
		{"too many points", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[604800]},{"name":"step","shape":[1],"datatype":"INT64","data":[1]}]}`, 400, `more than the limit of 20000`},
		{"zero step", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[60]},{"name":"step","shape":[1],"datatype":"INT64","data":[0]}]}`, 400, `want a positive number of seconds`},
		{"negative start", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[60]},{"name":"start","shape":[1],"datatype":"INT64","data":[-5]}]}`, 400, `between 1970 and 9999`},
		{"unknown input", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[60]},{"name":"cap","shape":[1],"datatype":"INT64","data":[1]}]}`, 400, `input "cap": unknown input`},
		{"duplicate input", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[60]},{"name":"horizon","shape":[1],"datatype":"INT64","data":[60]}]}`, 400, `given twice`},
		{"unknown output", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[60]}],"outputs":[{"name":"trend"}]}`, 400, `output "trend": unknown output`},
		{"malformed JSON", "/v2/models/cpu/infer", `{"inputs":[{"name":"horizon",`, 400, `not a valid inference request`},
		{"not an object", "/v2/models/cpu/infer", `[1,2,3]`, 400, `not a valid inference request`},
		{"trailing data", "/v2/models/cpu/infer", `{"inputs":[]} {}`, 400, `unexpected data after the JSON object`},
		{"oversized body", "/v2/models/cpu/infer", `{"id":"` + strings.Repeat("x", 5000) + `","inputs":[]}`, 413, `exceeds the limit of 4096`},
		{"unknown model metadata", "/v2/models/nope", "", 404, `not served here`},
		{"unknown route", "/v2/nothing", "", 404, `no route`},
	}
	for _, c := range rest {
		t.Run("rest/"+c.name, func(t *testing.T) {
			var r httpResult
			if c.body == "" {
				r = s.get(c.path)
			} else {
				r = s.post(c.path, []byte(c.body))
			}
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			var body struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(r.body, &body); err != nil {
				t.Fatalf("error body %q is not {\"error\": ...}: %v", r.body, err)
			}
			if !strings.Contains(body.Error, c.msg) {
				t.Fatalf("error %q does not mention %q", body.Error, c.msg)
			}
		})
	}

	int64Input := func(name string, vals ...int64) *inferencepb.ModelInferRequest_InferInputTensor {
		return &inferencepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: "INT64", Shape: []int64{int64(len(vals))},
			Contents: &inferencepb.InferTensorContents{Int64Contents: vals}}
	}
	grpcCases := []struct {
		name string
		req  *inferencepb.ModelInferRequest
		code codes.Code
		msg  string
	}{
		{"unknown model", &inferencepb.ModelInferRequest{ModelName: "nope", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{int64Input("horizon", 60)}}, codes.NotFound, "not served here"},
		{"empty model name", &inferencepb.ModelInferRequest{Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{int64Input("horizon", 60)}}, codes.InvalidArgument, "model name is empty"},
		{"missing horizon", &inferencepb.ModelInferRequest{ModelName: "cpu"}, codes.InvalidArgument, `input "horizon" is required`},
		{"wrong datatype", &inferencepb.ModelInferRequest{ModelName: "cpu", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{
			Name: "horizon", Datatype: "FP64", Shape: []int64{1}, Contents: &inferencepb.InferTensorContents{Fp64Contents: []float64{60}}}}}, codes.InvalidArgument, `want INT64`},
		{"INT64 in the wrong field", &inferencepb.ModelInferRequest{ModelName: "cpu", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{{
			Name: "horizon", Datatype: "INT64", Shape: []int64{1}, Contents: &inferencepb.InferTensorContents{IntContents: []int32{60}}}}}, codes.InvalidArgument, `wants int64_contents`},
		{"negative horizon", &inferencepb.ModelInferRequest{ModelName: "cpu", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{int64Input("horizon", -1)}}, codes.InvalidArgument, "must not be negative"},
		{"huge horizon", &inferencepb.ModelInferRequest{ModelName: "cpu", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{int64Input("horizon", 1<<50)}}, codes.InvalidArgument, "more than the limit"},
		{"raw of the wrong size", &inferencepb.ModelInferRequest{ModelName: "cpu",
			Inputs:           []*inferencepb.ModelInferRequest_InferInputTensor{{Name: "horizon", Datatype: "INT64", Shape: []int64{1}}},
			RawInputContents: [][]byte{{1, 2, 3}}}, codes.InvalidArgument, "multiple of 8"},
		{"raw count mismatch", &inferencepb.ModelInferRequest{ModelName: "cpu",
			Inputs:           []*inferencepb.ModelInferRequest_InferInputTensor{{Name: "horizon", Datatype: "INT64", Shape: []int64{1}}},
			RawInputContents: [][]byte{make([]byte, 8), make([]byte, 8)}}, codes.InvalidArgument, "2 entries for 1 inputs"},
		{"oversized message", &inferencepb.ModelInferRequest{ModelName: "cpu", Id: strings.Repeat("x", 5000),
			Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{int64Input("horizon", 60)}}, codes.ResourceExhausted, "larger than max"},
	}
	for _, c := range grpcCases {
		t.Run("grpc/"+c.name, func(t *testing.T) {
			_, err := s.grpc.ModelInfer(context.Background(), c.req)
			st, _ := status.FromError(err)
			if st.Code() != c.code {
				t.Fatalf("code %s (%v), want %s", st.Code(), err, c.code)
			}
			if !strings.Contains(st.Message(), c.msg) {
				t.Fatalf("message %q does not mention %q", st.Message(), c.msg)
			}
		})
	}
	for _, c := range []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"metadata of unknown model", func() error {
			_, err := s.grpc.ModelMetadata(context.Background(), &inferencepb.ModelMetadataRequest{Name: "nope"})
			return err
		}, codes.NotFound},
		{"readiness of unknown model", func() error {
			_, err := s.grpc.ModelReady(context.Background(), &inferencepb.ModelReadyRequest{Name: "nope"})
			return err
		}, codes.NotFound},
		{"readiness of unknown version", func() error {
			_, err := s.grpc.ModelReady(context.Background(), &inferencepb.ModelReadyRequest{Name: "cpu", Version: "v9"})
			return err
		}, codes.NotFound},
	} {
		t.Run("grpc/"+c.name, func(t *testing.T) {
			if st, _ := status.FromError(c.call()); st.Code() != c.code {
				t.Fatalf("code %s, want %s", st.Code(), c.code)
			}
		})
	}

	// Still serving, and correctly.
	now := e.clock.Now().Unix()
	got, err := s.restInfer("cpu", 600, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, e, man, got, grid(now-now%60, 60, 11))
	g, err := s.grpcInfer(context.Background(), "cpu", true, 600, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, e, man, g, grid(now-now%60, 60, 11))
	m := s.get("/metrics")
	for _, want := range []string{
		`ppa_runtime_requests_total{code="invalid_argument",model="cpu",protocol="rest"}`,
		`ppa_runtime_requests_total{code="not_found",model="_unknown",protocol="grpc"}`,
		`ppa_runtime_requests_total{code="too_large",model="cpu",protocol="rest"}`,
		`ppa_runtime_requests_total{code="ok",model="cpu",protocol="grpc"} 1`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestHostilePluginIsolated serves a good model beside models whose plugin
// traps, exits or hangs: their requests fail with an error (a hang within
// the plugin timeout), the good model keeps answering correctly, also while
// the bad ones are being called.
func TestHostilePluginIsolated(t *testing.T) {
	e := newS3Env(t)
	good := e.model(seasonalNaivePkg, "good", "v0001", nil, 100, 50)
	e.model(hostilePkg, "trapper", "v0001", abi.Params{"mode": "trap"}, 0, 0)
	e.model(hostilePkg, "exiter", "v0001", abi.Params{"mode": "exit"}, 0, 0)
	e.model(hostilePkg, "sleeper", "v0001", abi.Params{"mode": "hang"}, 0, 0)
	opts := e.options("good", "trapper", "exiter", "sleeper")
	// The timeout also covers instantiating a fresh instance after a trap
	// (a Go guest's _initialize), which is slow under -race on a busy
	// machine: keep it well above that.
	opts.PluginTimeout = 1500 * time.Millisecond
	s := start(t, opts, true)
	now := e.clock.Now().Unix()
	wantDS := grid(now-now%60, 60, 61)

	var wg sync.WaitGroup
	errs := make(chan string, 100)
	rounds := 2
	if testing.Short() {
		rounds = 1
	}
	for _, c := range []struct {
		model  string
		status int
		code   codes.Code
		msg    string
	}{
		{"trapper", 500, codes.Internal, "trap"},
		{"exiter", 500, codes.Internal, "exit"},
		{"sleeper", 504, codes.DeadlineExceeded, "deadline exceeded"},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				r := s.post("/v2/models/"+c.model+"/infer", inferBody(3600, nil, nil))
				if r.status != c.status || !strings.Contains(strings.ToLower(string(r.body)), c.msg) {
					errs <- c.model + " rest: " + string(r.body)
				}
				_, err := s.grpcInfer(context.Background(), c.model, false, 3600, nil, nil)
				if st, _ := status.FromError(err); st.Code() != c.code {
					errs <- c.model + " grpc: " + err.Error()
				}
			}
		}()
	}
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				var f forecast
				var err error
				if (w+i)%2 == 0 {
					f, err = s.restInfer("good", 3600, nil, nil)
				} else {
					f, err = s.grpcInfer(context.Background(), "good", false, 3600, nil, nil)
				}
				if err != nil {
					errs <- "good: " + err.Error()
					continue
				}
				if !equalInts(f.ds, wantDS) || f.version != good.Version {
					errs <- "good: wrong answer"
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	got, err := s.restInfer("good", 3600, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkForecast(t, e, good, got, wantDS)
	if r := s.get("/v2/health/live"); r.status != http.StatusOK {
		t.Fatalf("live: %d", r.status)
	}
}

// TestReadinessAndMetadata starts the runtime before one of its models
// exists: it is live but not ready, the missing model is not ready, and
// both become ready once the model is written.
func TestReadinessAndMetadata(t *testing.T) {
	e := newS3Env(t)
	cpu := e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	s := start(t, e.options("cpu", "mem"), false)
	waitFor(t, "cpu to load", func() bool { return s.get("/v2/models/cpu/ready").status == http.StatusOK })
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/v2/health/live", 200},
		{"/v2/health/ready", 503},
		{"/v2/models/mem/ready", 503},
		{"/v2/models/mem", 503},
		{"/v2/models/cpu/ready", 200},
		{"/v2/models/cpu/versions/" + cpu.Version + "/ready", 200},
		{"/v2/models/cpu/versions/v9/ready", 404},
		{"/v2/models/nope/ready", 404},
	} {
		if r := s.get(c.path); r.status != c.status {
			t.Errorf("GET %s: %d, want %d: %s", c.path, r.status, c.status, r.body)
		}
	}
	ready, err := s.grpc.ServerReady(context.Background(), &inferencepb.ServerReadyRequest{})
	if err != nil || ready.GetReady() {
		t.Fatalf("grpc server ready = %v, %v; want false", ready, err)
	}
	mr, err := s.grpc.ModelReady(context.Background(), &inferencepb.ModelReadyRequest{Name: "mem"})
	if err != nil || mr.GetReady() {
		t.Fatalf("grpc model ready(mem) = %v, %v; want false", mr, err)
	}
	r := s.post("/v2/models/mem/infer", inferBody(60, nil, nil))
	if r.status != http.StatusServiceUnavailable {
		t.Fatalf("infer on a model not loaded: %d %s", r.status, r.body)
	}
	if _, err := s.grpcInfer(context.Background(), "mem", false, 60, nil, nil); status.Code(err) != codes.Unavailable {
		t.Fatalf("grpc infer on a model not loaded: %v", err)
	}

	e.model(seasonalNaivePkg, "mem", "v0001", nil, 5, 1)
	waitFor(t, "ready", func() bool { return s.get("/v2/health/ready").status == http.StatusOK })
	ready, err = s.grpc.ServerReady(context.Background(), &inferencepb.ServerReadyRequest{})
	if err != nil || !ready.GetReady() {
		t.Fatalf("grpc server ready = %v, %v; want true", ready, err)
	}
	live, err := s.grpc.ServerLive(context.Background(), &inferencepb.ServerLiveRequest{})
	if err != nil || !live.GetLive() {
		t.Fatalf("grpc server live = %v, %v", live, err)
	}

	// Metadata documents the tensors on both protocols.
	var md struct {
		Name     string   `json:"name"`
		Versions []string `json:"versions"`
		Platform string   `json:"platform"`
		Inputs   []struct {
			Name, Datatype string
			Shape          []int64
		} `json:"inputs"`
		Outputs []struct {
			Name, Datatype string
			Shape          []int64
		} `json:"outputs"`
		Parameters map[string]any `json:"parameters"`
	}
	r = s.get("/v2/models/cpu")
	if err := json.Unmarshal(r.body, &md); err != nil || r.status != 200 {
		t.Fatalf("metadata: %d %s: %v", r.status, r.body, err)
	}
	var names []string
	for _, in := range md.Inputs {
		names = append(names, in.Name+":"+in.Datatype)
	}
	for _, out := range md.Outputs {
		names = append(names, out.Name+":"+out.Datatype)
	}
	if got, want := strings.Join(names, " "), "horizon:INT64 start:INT64 step:INT64 ds:INT64 yhat:FP64 yhat_lower:FP64 yhat_upper:FP64"; got != want {
		t.Errorf("metadata tensors %q, want %q", got, want)
	}
	if md.Name != "cpu" || len(md.Versions) != 1 || md.Versions[0] != cpu.Version || md.Platform != "ppa-wasm" ||
		md.Parameters["step_seconds"] != float64(60) || md.Parameters["plugin"] != "seasonal-naive" {
		t.Errorf("metadata %+v", md)
	}
	// The built-in digests run in-process, any other in a worker process.
	switch md.Parameters["plugin_run"] {
	case string(engine.RunTrustedInProcess), string(engine.RunSandboxedProcess):
	default:
		t.Errorf("metadata parameter plugin_run = %v, want how the plugin runs", md.Parameters["plugin_run"])
	}
	gmd, err := s.grpc.ModelMetadata(context.Background(), &inferencepb.ModelMetadataRequest{Name: "cpu", Version: cpu.Version})
	if err != nil {
		t.Fatal(err)
	}
	if gmd.GetName() != "cpu" || len(gmd.GetInputs()) != 3 || len(gmd.GetOutputs()) != 4 || gmd.GetVersions()[0] != cpu.Version {
		t.Errorf("grpc metadata %v", gmd)
	}
	sm, err := s.grpc.ServerMetadata(context.Background(), &inferencepb.ServerMetadataRequest{})
	if err != nil || sm.GetName() != "ppa-runtime" {
		t.Errorf("server metadata %v, %v", sm, err)
	}

	// Server reflection lists the service, for grpcurl and friends.
	stream, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	rr, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, svc := range rr.GetListServicesResponse().GetService() {
		services = append(services, svc.GetName())
	}
	if !strings.Contains(strings.Join(services, " "), "inference.GRPCInferenceService") {
		t.Errorf("reflection lists %v", services)
	}
	stream.CloseSend()

	m := string(s.get("/metrics").body)
	for _, want := range []string{
		`ppa_runtime_model_info{model="cpu",namespace="team-a",plugin="seasonal-naive",plugin_version="1.0.0",state="READY",version="v0001"} 1`,
		`ppa_runtime_models_loaded 2`,
		`ppa_runtime_ready 1`,
		`ppa_runtime_plugin_call_duration_seconds_count{failure="",method="ppa_predict",plugin="seasonal-naive",plugin_version="1.0.0"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestReadyWhenListed: a runtime shared by many models, told so, is ready
// once it listed them, although one has no version yet; that model alone
// is not ready (TestReadinessAndMetadata: without the option the server
// is not ready).
func TestReadyWhenListed(t *testing.T) {
	e := newDirEnv(t)
	e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	opts := e.options("cpu", "mem")
	opts.ReadyWhenListed = true
	s := start(t, opts, false)
	waitFor(t, "server ready", func() bool { return s.get("/v2/health/ready").status == http.StatusOK })
	for _, c := range []struct {
		path   string
		status int
	}{
		{"/v2/models/cpu/ready", 200},
		{"/v2/models/mem/ready", 503},
	} {
		if r := s.get(c.path); r.status != c.status {
			t.Errorf("GET %s: %d, want %d: %s", c.path, r.status, c.status, r.body)
		}
	}
	ready, err := s.grpc.ServerReady(context.Background(), &inferencepb.ServerReadyRequest{})
	if err != nil || !ready.GetReady() {
		t.Fatalf("grpc server ready = %v, %v; want true", ready, err)
	}
}
