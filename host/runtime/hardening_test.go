package runtime_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ppa-autoscaler/ppa/host/runtime/inferencepb"
)

// TestRangeChecksDoNotOverflow sends start and step values near the int64
// limits: each is refused over both protocols, never answered with
// wrapped-around timestamps.
func TestRangeChecksDoNotOverflow(t *testing.T) {
	e := newDirEnv(t)
	e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	s := start(t, e.options("cpu"), true)

	const maxUnix = 253402300799 // 9999-12-31T23:59:59Z
	for _, c := range []struct {
		name         string
		horizon      int64
		start, step  *int64
		wantContains string
	}{
		{"start near 2^63", 60, ptr(math.MaxInt64 - 30), nil, "between 1970 and 9999"},
		{"start at 2^63-1", 0, ptr(math.MaxInt64), nil, "between 1970 and 9999"},
		{"start plus horizon past 9999", 60, ptr(maxUnix), nil, "between 1970 and 9999"},
		{"step at 2^63-1 without start", 60, nil, ptr(math.MaxInt64), `input "step"`},
		{"step at 2^63-1 with start", 60, ptr(1_800_000_000), ptr(math.MaxInt64), `input "step"`},
		{"step beyond the horizon limit", 0, nil, ptr(1 << 40), `input "step"`},
	} {
		t.Run("rest/"+c.name, func(t *testing.T) {
			r := s.post("/v2/models/cpu/infer", inferBody(c.horizon, c.start, c.step))
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			var body struct{ Error string }
			if err := json.Unmarshal(r.body, &body); err != nil || !strings.Contains(body.Error, c.wantContains) {
				t.Fatalf("error body %s does not mention %q (%v)", r.body, c.wantContains, err)
			}
		})
		t.Run("grpc/"+c.name, func(t *testing.T) {
			for _, raw := range []bool{false, true} {
				_, err := s.grpc.ModelInfer(context.Background(), grpcRequest("cpu", raw, c.horizon, c.start, c.step))
				st, _ := status.FromError(err)
				if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), c.wantContains) {
					t.Fatalf("raw=%v: %v, want InvalidArgument mentioning %q", raw, err, c.wantContains)
				}
			}
		})
	}
	// The edges that are valid still answer.
	if _, err := s.restInfer("cpu", 60, ptr(4_102_444_800), nil); err != nil { // 2100
		t.Fatalf("start in 2100: %v", err)
	}
	if _, err := s.restInfer("cpu", 0, nil, ptr(7*24*3600)); err != nil {
		t.Fatalf("step at the horizon limit: %v", err)
	}
}

// TestLongNamesAreBounded sends a 10 KB model name, input name and output
// name: the client gets the status it should (not RESOURCE_EXHAUSTED from
// its own metadata limit) with a message of bounded size that still says
// what was wrong.
func TestLongNamesAreBounded(t *testing.T) {
	e := newDirEnv(t)
	e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	s := start(t, e.options("cpu"), true)
	long := strings.Repeat("ä", 5000) // 10,000 bytes
	horizon := &inferencepb.ModelInferRequest_InferInputTensor{Name: "horizon", Datatype: "INT64", Shape: []int64{1},
		Contents: &inferencepb.InferTensorContents{Int64Contents: []int64{60}}}
	for _, c := range []struct {
		name string
		req  *inferencepb.ModelInferRequest
		code codes.Code
		msg  string
	}{
		{"model name", &inferencepb.ModelInferRequest{ModelName: long, Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{horizon}},
			codes.NotFound, "is not served here"},
		{"model version", &inferencepb.ModelInferRequest{ModelName: "cpu", ModelVersion: long, Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{horizon}},
			codes.NotFound, "is not loaded"},
		{"input name", &inferencepb.ModelInferRequest{ModelName: "cpu", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{horizon,
			{Name: long, Datatype: "INT64", Shape: []int64{1}, Contents: &inferencepb.InferTensorContents{Int64Contents: []int64{1}}}}},
			codes.InvalidArgument, "unknown input"},
		{"output name", &inferencepb.ModelInferRequest{ModelName: "cpu", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{horizon},
			Outputs: []*inferencepb.ModelInferRequest_InferRequestedOutputTensor{{Name: long}}},
			codes.InvalidArgument, "unknown output"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.grpc.ModelInfer(context.Background(), c.req)
			st, _ := status.FromError(err)
			if st.Code() != c.code || !strings.Contains(st.Message(), c.msg) {
				t.Fatalf("%v, want %s mentioning %q", err, c.code, c.msg)
			}
			if len(st.Message()) > 1100 {
				t.Fatalf("message of %d bytes: want it bounded", len(st.Message()))
			}
			if !strings.Contains(st.Message(), "("+strconv.Itoa(len(long))+" bytes)") {
				t.Fatalf("message %.200q… does not give the name's length", st.Message())
			}
		})
	}
	r := s.post("/v2/models/"+strings.Repeat("x", 10000)+"/infer", inferBody(60, nil, nil))
	if r.status != http.StatusNotFound || len(r.body) > 1100 {
		t.Fatalf("REST with a 10 KB model name: status %d, body of %d bytes: want 404, bounded", r.status, len(r.body))
	}
}

// TestCorruptNewestVersionFallsBack corrupts the newest version of a model
// (a truncated manifest, one changed byte of model.bin) and starts a
// runtime: it serves the newest valid older version and says so in its
// metrics, rather than answering 503 "not loaded yet" for ever.
func TestCorruptNewestVersionFallsBack(t *testing.T) {
	for _, c := range []struct {
		name    string
		corrupt func(t *testing.T, dir string)
	}{
		{"truncated manifest", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "manifest.json")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, b[:len(b)/2])
		}},
		{"one byte of model.bin changed", func(t *testing.T, dir string) {
			path := filepath.Join(dir, "model.bin")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x01
			writeFile(t, path, b)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newDirEnv(t)
			good := e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
			e.model(seasonalNaivePkg, "cpu", "v0002", nil, 300, 50)
			e.model(seasonalNaivePkg, "cpu", "v0003", nil, 500, 50)
			c.corrupt(t, filepath.Join(e.uri, "models", namespace, "cpu", "v0003"))
			c.corrupt(t, filepath.Join(e.uri, "models", namespace, "cpu", "v0002"))
			s := start(t, e.options("cpu"), true)
			now := e.clock.Now().Unix()
			got, err := s.restInfer("cpu", 600, nil, nil)
			if err != nil {
				t.Fatalf("after a restart with a corrupt newest version: %v", err)
			}
			if got.version != good.Version {
				t.Fatalf("serving version %s, want %s", got.version, good.Version)
			}
			checkForecast(t, e, good, got, grid(now-now%60, 60, 11))
			m := string(s.get("/metrics").body)
			for _, want := range []string{
				`ppa_runtime_model_fallback{failed_version="v0003",model="cpu",version="v0001"} 1`,
				`ppa_runtime_model_fallbacks_total{model="cpu"} 1`,
			} {
				if !strings.Contains(m, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			st := s.Models()[0]
			if st.FallbackFrom != "v0003" || st.FallbackReason == "" {
				t.Errorf("status %+v: want the fallback and its reason", st)
			}
		})
	}
}

// TestNamespaceParameter asks for a model with the namespace parameter: a
// namespace other than the model's is NOT_FOUND over both protocols (a
// runtime serving several namespaces must not answer with another
// namespace's forecast), the model's own is served.
func TestNamespaceParameter(t *testing.T) {
	e := newDirEnv(t)
	e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	s := start(t, e.options("cpu"), true)
	req := func(ns string) *inferencepb.ModelInferRequest {
		r := grpcRequest("cpu", false, 60, nil, nil)
		r.Parameters = map[string]*inferencepb.InferParameter{"namespace": {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: ns}}}
		return r
	}
	if _, err := s.grpc.ModelInfer(context.Background(), req(namespace)); err != nil {
		t.Fatalf("own namespace: %v", err)
	}
	_, err := s.grpc.ModelInfer(context.Background(), req("team-b"))
	if st, _ := status.FromError(err); st.Code() != codes.NotFound || !strings.Contains(st.Message(), `for namespace "team-b"`) {
		t.Fatalf("other namespace: %v, want NotFound naming it", err)
	}
	bad := grpcRequest("cpu", false, 60, nil, nil)
	bad.Parameters = map[string]*inferencepb.InferParameter{"namespace": {ParameterChoice: &inferencepb.InferParameter_Int64Param{Int64Param: 1}}}
	if _, err := s.grpc.ModelInfer(context.Background(), bad); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("namespace as an int: %v, want InvalidArgument", err)
	}
	body := func(ns string) []byte {
		return []byte(`{"parameters":{"namespace":"` + ns + `"},"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[60]}]}`)
	}
	if r := s.post("/v2/models/cpu/infer", body(namespace)); r.status != http.StatusOK {
		t.Fatalf("REST, own namespace: %d %s", r.status, r.body)
	}
	if r := s.post("/v2/models/cpu/infer", body("team-b")); r.status != http.StatusNotFound {
		t.Fatalf("REST, other namespace: %d %s, want 404", r.status, r.body)
	}
}
