package runtime

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ppa-autoscaler/ppa/host/runtime/inferencepb"
	"github.com/ppa-autoscaler/ppa/host/runtime/modelset"
)

// fuzzServer is a Server with default limits and a fixed clock, enough to
// decode and validate requests without listening or loading anything.
func fuzzServer() (*Server, *modelset.Model) {
	o := NewOptions()
	o.Now = func() time.Time { return time.Unix(1_800_000_017, 0) }
	return &Server{opts: o}, &modelset.Model{Name: "cpu", Step: 60}
}

// checkDecoded holds a decoded request to the invariants every accepted
// request must meet, and every refused one to a bounded, classified error.
func checkDecoded(t *testing.T, s *Server, m *modelset.Model, req inferRequest, err error) {
	t.Helper()
	if err != nil {
		if c := codeOf(err); c != codeInvalidArgument && c != codeTooLarge {
			t.Fatalf("decode error of code %s: %v", c, err)
		}
		if len(err.Error()) > maxMessage+100 {
			t.Fatalf("decode error of %d bytes", len(err.Error()))
		}
		return
	}
	p, err := s.parseInputs(m, req.inputs)
	if err != nil {
		if codeOf(err) != codeInvalidArgument || len(err.Error()) > maxMessage+100 {
			t.Fatalf("input error %v (code %s, %d bytes)", err, codeOf(err), len(err.Error()))
		}
	} else {
		last := p.start + int64(p.n-1)*p.step
		if p.n < 1 || p.n > s.opts.MaxPoints || p.step < 1 || p.start < 0 || last < p.start || last > maxUnixSeconds {
			t.Fatalf("accepted start %d, step %d, %d points (last %d): outside 1970..9999 or the limits", p.start, p.step, p.n, last)
		}
	}
	if _, err := wantOutputs(req.outputs, true); err != nil && len(err.Error()) > maxMessage+100 {
		t.Fatalf("output error of %d bytes", len(err.Error()))
	}
}

// FuzzRESTInferRequest decodes arbitrary REST inference bodies and
// validates their inputs.
func FuzzRESTInferRequest(f *testing.F) {
	for _, seed := range []string{
		`{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[900]}]}`,
		`{"id":"x","parameters":{"namespace":"team-a"},"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[60]},{"name":"start","shape":[1],"datatype":"INT64","data":[1800000000]},{"name":"step","shape":[1],"datatype":"INT64","data":[30]}],"outputs":[{"name":"yhat"}]}`,
		`{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[[60]]},{"name":"start","shape":[1],"datatype":"INT64","data":[9223372036854775000]}]}`,
		`{"inputs":[{"name":"step","shape":[1],"datatype":"INT64","data":[9223372036854775807]},{"name":"horizon","shape":[1],"datatype":"INT64","data":[0]}]}`,
		`{"inputs":[]} {}`,
	} {
		f.Add([]byte(seed))
	}
	s, m := fuzzServer()
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/v2/models/cpu/infer", bytes.NewReader(body))
		r.SetPathValue("name", "cpu")
		req, err := s.decodeREST(httptest.NewRecorder(), r)
		checkDecoded(t, s, m, req.inferRequest, err)
	})
}

// FuzzGRPCInferRequest decodes arbitrary protobuf ModelInferRequests, as
// the gRPC server would receive them, and validates their inputs.
func FuzzGRPCInferRequest(f *testing.F) {
	i64 := func(name string, v int64) *inferencepb.ModelInferRequest_InferInputTensor {
		return &inferencepb.ModelInferRequest_InferInputTensor{Name: name, Datatype: DatatypeInt64, Shape: []int64{1},
			Contents: &inferencepb.InferTensorContents{Int64Contents: []int64{v}}}
	}
	for _, req := range []*inferencepb.ModelInferRequest{
		{ModelName: "cpu", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{i64("horizon", 900)}},
		{ModelName: "cpu", Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{i64("horizon", 60), i64("start", 9223372036854775000)}},
		{ModelName: "cpu", Parameters: map[string]*inferencepb.InferParameter{"namespace": {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: "a"}}},
			Inputs:           []*inferencepb.ModelInferRequest_InferInputTensor{{Name: "horizon", Datatype: DatatypeInt64, Shape: []int64{1}}},
			RawInputContents: [][]byte{{60, 0, 0, 0, 0, 0, 0, 0}}},
	} {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	s, m := fuzzServer()
	f.Fuzz(func(t *testing.T, b []byte) {
		var req inferencepb.ModelInferRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		in, _, err := decodeGRPC(&req)
		checkDecoded(t, s, m, in, err)
	})
}
