package runtime_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/runtime"
)

// binTensor is one input of a hand-built request: JSON data, or raw bytes
// after the JSON header (size overrides the binary_data_size parameter).
type binTensor struct {
	name, datatype string
	shape          []int64
	json           []int64 // data as JSON when raw is nil
	raw            []byte
	size           json.RawMessage // the binary_data_size parameter; default len(raw)
}

// binRequest builds a body of the binary tensor data extension and the
// header length; extraParams and outputs go into the JSON verbatim.
func binRequest(t *testing.T, tensors []binTensor, params string, outputs string) (body []byte, headerLen int) {
	t.Helper()
	var inputs []string
	var tail []byte
	for _, tt := range tensors {
		shape, _ := json.Marshal(tt.shape)
		in := `{"name":"` + tt.name + `","datatype":"` + tt.datatype + `","shape":` + string(shape)
		if tt.raw != nil || tt.size != nil {
			size := tt.size
			if size == nil {
				size = json.RawMessage(strconv.Itoa(len(tt.raw)))
			}
			in += `,"parameters":{"binary_data_size":` + string(size) + `}`
			tail = append(tail, tt.raw...)
		}
		if tt.json != nil {
			data, _ := json.Marshal(tt.json)
			in += `,"data":` + string(data)
		}
		inputs = append(inputs, in+"}")
	}
	js := `{"id":"req-1","inputs":[` + strings.Join(inputs, ",") + `]`
	if params != "" {
		js += `,"parameters":` + params
	}
	if outputs != "" {
		js += `,"outputs":` + outputs
	}
	js += "}"
	return append([]byte(js), tail...), len(js)
}

func le64(vs ...int64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// binResponse is a decoded response of either form.
type binResponse struct {
	status      int
	contentType string
	headerLen   string
	json        struct {
		ModelName  string          `json:"model_name"`
		ID         string          `json:"id"`
		Error      string          `json:"error"`
		Parameters json.RawMessage `json:"parameters"`
		Outputs    []struct {
			Name       string          `json:"name"`
			Datatype   string          `json:"datatype"`
			Shape      []int64         `json:"shape"`
			Parameters map[string]int  `json:"parameters"`
			Data       json.RawMessage `json:"data"`
		} `json:"outputs"`
	}
	// ints and floats hold each output's values, from JSON or binary.
	ints   map[string][]int64
	floats map[string][]float64
	binary map[string]bool
}

// postBinary posts body with the Inference-Header-Content-Length header
// (none when header is "") and decodes the answer of either form.
func postBinary(t *testing.T, s *server, path string, body []byte, header string) binResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	if header != "" {
		req.Header.Set(runtime.HeaderInferenceLength, header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	out := binResponse{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), headerLen: resp.Header.Get(runtime.HeaderInferenceLength),
		ints: map[string][]int64{}, floats: map[string][]float64{}, binary: map[string]bool{}}
	js, tail := raw, []byte(nil)
	if out.headerLen != "" {
		n, err := strconv.Atoi(out.headerLen)
		if err != nil || n > len(raw) {
			t.Fatalf("response %s %q with a body of %d bytes", runtime.HeaderInferenceLength, out.headerLen, len(raw))
		}
		js, tail = raw[:n], raw[n:]
	}
	if err := json.Unmarshal(js, &out.json); err != nil {
		t.Fatalf("response header %q: %v", js, err)
	}
	off := 0
	for _, o := range out.json.Outputs {
		if size, ok := o.Parameters["binary_data_size"]; ok {
			if o.Data != nil {
				t.Fatalf("output %s has both data and binary_data_size", o.Name)
			}
			if off+size > len(tail) {
				t.Fatalf("output %s: %d bytes at %d overrun the %d-byte tail", o.Name, size, off, len(tail))
			}
			b := tail[off : off+size]
			off += size
			out.binary[o.Name] = true
			for j := 0; j+8 <= len(b); j += 8 {
				u := binary.LittleEndian.Uint64(b[j:])
				if o.Datatype == "INT64" {
					out.ints[o.Name] = append(out.ints[o.Name], int64(u))
				} else {
					out.floats[o.Name] = append(out.floats[o.Name], math.Float64frombits(u))
				}
			}
			continue
		}
		var err error
		if o.Datatype == "INT64" {
			var v []int64
			err = json.Unmarshal(o.Data, &v)
			out.ints[o.Name] = v
		} else {
			var v []float64
			err = json.Unmarshal(o.Data, &v)
			out.floats[o.Name] = v
		}
		if err != nil {
			t.Fatalf("output %s data %s: %v", o.Name, o.Data, err)
		}
	}
	if off != len(tail) {
		t.Fatalf("response has %d binary bytes, outputs claim %d", len(tail), off)
	}
	return out
}

// TestBinaryTensorData sends hand-built requests of the binary tensor data
// extension: every mix of binary and JSON inputs and outputs answers the
// same forecast as plain JSON, with the policy parameter; bad framing gets
// a 400 naming the problem, and the server goes on serving.
func TestBinaryTensorData(t *testing.T) {
	e := newDirEnv(t)
	pol, err := json.Marshal(policy.Policy{Mode: policy.ModePredictive, Reason: "test", Forecaster: "seasonal-naive",
		Decision: &policy.Decision{Aggregation: "max", Bound: "yhat", ReactiveFloor: true}})
	if err != nil {
		t.Fatal(err)
	}
	e.modelWithPolicy(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50, pol)
	s := start(t, e.options("cpu"), true)
	const path = "/v2/models/cpu/infer"
	start0 := trainEnd.Unix()

	// The reference: the same forecast asked in plain JSON.
	want := postBinary(t, s, path, inferBody(600, ptr(start0), ptr(60)), "")
	if want.status != http.StatusOK || want.headerLen != "" || !strings.HasPrefix(want.contentType, "application/json") {
		t.Fatalf("JSON request: status %d, %s %q, content type %q", want.status, runtime.HeaderInferenceLength, want.headerLen, want.contentType)
	}
	if len(want.ints["ds"]) != 11 || len(want.floats["yhat"]) != 11 {
		t.Fatalf("JSON request: outputs %v %v", want.ints, want.floats)
	}
	if !strings.Contains(string(want.json.Parameters), `"policy":{"mode":"predictive"`) {
		t.Fatalf("JSON response parameters %s: want the policy", want.json.Parameters)
	}

	h := func(name string, v int64) binTensor {
		return binTensor{name: name, datatype: "INT64", shape: []int64{1}, raw: le64(v)}
	}
	j := func(name string, v int64) binTensor {
		return binTensor{name: name, datatype: "INT64", shape: []int64{1}, json: []int64{v}}
	}
	ok := []struct {
		name            string
		inputs          []binTensor
		params, outputs string
		binary          []string // outputs expected as binary
	}{
		{"binary inputs, JSON outputs", []binTensor{h("horizon", 600), h("start", start0), h("step", 60)}, "", "", nil},
		{"binary inputs and outputs", []binTensor{h("horizon", 600), h("start", start0), h("step", 60)}, `{"binary_data_output":true}`, "", []string{"ds", "yhat"}},
		{"mixed inputs", []binTensor{j("horizon", 600), h("start", start0), j("step", 60)}, `{"binary_data_output":true}`, "", []string{"ds", "yhat"}},
		{"JSON inputs, one binary output", []binTensor{j("horizon", 600), j("start", start0), j("step", 60)}, "", `[{"name":"ds"},{"name":"yhat","parameters":{"binary_data":true}}]`, []string{"yhat"}},
		{"per-output false beats request-level true", []binTensor{h("horizon", 600), h("start", start0), h("step", 60)}, `{"binary_data_output":true}`,
			`[{"name":"yhat"},{"name":"ds","parameters":{"binary_data":false}}]`, []string{"yhat"}},
		{"request-level false", []binTensor{h("horizon", 600), h("start", start0), h("step", 60)}, `{"binary_data_output":false}`, "", nil},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			body, n := binRequest(t, c.inputs, c.params, c.outputs)
			got := postBinary(t, s, path, body, strconv.Itoa(n))
			if got.status != http.StatusOK {
				t.Fatalf("status %d: %s", got.status, got.json.Error)
			}
			if got.json.ModelName != "cpu" || got.json.ID != "req-1" {
				t.Fatalf("model %q id %q", got.json.ModelName, got.json.ID)
			}
			if !equalInts(got.ints["ds"], want.ints["ds"]) || !equalFloats(got.floats["yhat"], want.floats["yhat"]) {
				t.Fatalf("forecast ds %v yhat %v, want %v %v", got.ints["ds"], got.floats["yhat"], want.ints["ds"], want.floats["yhat"])
			}
			if string(got.json.Parameters) != string(want.json.Parameters) {
				t.Fatalf("parameters %s, want %s", got.json.Parameters, want.json.Parameters)
			}
			for _, name := range []string{"ds", "yhat"} {
				wantBin := false
				for _, b := range c.binary {
					wantBin = wantBin || b == name
				}
				if got.binary[name] != wantBin {
					t.Errorf("output %s binary = %v, want %v", name, got.binary[name], wantBin)
				}
			}
			if len(c.binary) > 0 {
				if got.headerLen == "" || got.contentType != "application/octet-stream" {
					t.Fatalf("binary outputs with %s %q and content type %q", runtime.HeaderInferenceLength, got.headerLen, got.contentType)
				}
			} else if got.headerLen != "" {
				t.Fatalf("JSON-only response has %s %q", runtime.HeaderInferenceLength, got.headerLen)
			}
		})
	}

	horizon := `{"name":"horizon","datatype":"INT64","shape":[1],"parameters":{"binary_data_size":8}}`
	bad := []struct {
		name   string
		body   []byte
		header string // "" sends none; "auto" the JSON's length
		msg    string
	}{
		{"header length not a number", append([]byte(`{"inputs":[`+horizon+`]}`), le64(600)...), "abc", `Inference-Header-Content-Length "abc" is not an integer`},
		{"negative header length", append([]byte(`{"inputs":[`+horizon+`]}`), le64(600)...), "-1", `Inference-Header-Content-Length -1 is negative`},
		{"header length past the end", append([]byte(`{"inputs":[`+horizon+`]}`), le64(600)...), "1000", `Inference-Header-Content-Length 1000 is past the end of the`},
		{"header length cuts the JSON", append([]byte(`{"inputs":[`+horizon+`]}`), le64(600)...), "10", `not a valid inference request`},
		{"negative size", append([]byte(`{"inputs":[{"name":"horizon","datatype":"INT64","shape":[1],"parameters":{"binary_data_size":-8}}]}`), le64(600)...), "auto",
			`input "horizon": parameters.binary_data_size -8 is negative`},
		{"size not an integer", append([]byte(`{"inputs":[{"name":"horizon","datatype":"INT64","shape":[1],"parameters":{"binary_data_size":"8"}}]}`), le64(600)...), "auto",
			`parameters.binary_data_size "8" is not an integer`},
		{"size overruns the body", append([]byte(`{"inputs":[{"name":"horizon","datatype":"INT64","shape":[1],"parameters":{"binary_data_size":16}}]}`), le64(600)...), "auto",
			`input "horizon": parameters.binary_data_size 16 overruns the body: 8 bytes of binary data are left`},
		{"second input overruns the body", append([]byte(`{"inputs":[`+horizon+`,{"name":"step","datatype":"INT64","shape":[1],"parameters":{"binary_data_size":8}}]}`), le64(600)...), "auto",
			`input "step": parameters.binary_data_size 8 overruns the body: 0 bytes`},
		{"size does not match the shape", append([]byte(`{"inputs":[{"name":"horizon","datatype":"INT64","shape":[2],"parameters":{"binary_data_size":8}}]}`), le64(600)...), "auto",
			`input "horizon": parameters.binary_data_size 8 does not match shape [2] of INT64 (2 elements of 8 bytes = 16 bytes)`},
		{"size does not match the datatype", append([]byte(`{"inputs":[{"name":"horizon","datatype":"INT32","shape":[1],"parameters":{"binary_data_size":8}}]}`), le64(600)...), "auto",
			`does not match shape [1] of INT32 (1 elements of 4 bytes = 4 bytes)`},
		{"huge shape", append([]byte(`{"inputs":[{"name":"horizon","datatype":"INT64","shape":[4611686018427387904,4],"parameters":{"binary_data_size":8}}]}`), le64(600)...), "auto",
			`is larger than the 8 bytes of binary data`},
		{"negative dimension", append([]byte(`{"inputs":[{"name":"horizon","datatype":"INT64","shape":[-1],"parameters":{"binary_data_size":8}}]}`), le64(600)...), "auto",
			`shape [-1]: negative dimension`},
		{"data and size both", append([]byte(`{"inputs":[{"name":"horizon","datatype":"INT64","shape":[1],"data":[600],"parameters":{"binary_data_size":8}}]}`), le64(600)...), "auto",
			`input "horizon": both data and parameters.binary_data_size are given`},
		{"bytes no input claims", append([]byte(`{"inputs":[`+horizon+`]}`), le64(600, 60)...), "auto",
			`8 bytes of binary data after the JSON header belong to no input`},
		{"binary tail without the header", append([]byte(`{"inputs":[`+horizon+`]}`), le64(600)...), "",
			`unexpected data after the JSON object (binary tensors need the Inference-Header-Content-Length header)`},
		{"binary_data not a boolean", append([]byte(`{"inputs":[`+horizon+`],"outputs":[{"name":"ds","parameters":{"binary_data":"yes"}}]}`), le64(600)...), "auto",
			`output "ds": parameters.binary_data "yes" is not a boolean`},
		{"binary_data_output not a boolean", append([]byte(`{"inputs":[`+horizon+`],"parameters":{"binary_data_output":1}}`), le64(600)...), "auto",
			`parameters.binary_data_output 1 is not a boolean`},
	}
	for _, c := range bad {
		t.Run("bad/"+c.name, func(t *testing.T) {
			header := c.header
			if header == "auto" {
				header = strconv.Itoa(bytes.LastIndexByte(c.body, '}') + 1)
			}
			got := postBinary(t, s, path, c.body, header)
			if got.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %+v", got.status, got.json)
			}
			if !strings.Contains(got.json.Error, c.msg) {
				t.Fatalf("error %q does not mention %q", got.json.Error, c.msg)
			}
			// The server goes on serving.
			body, n := binRequest(t, []binTensor{h("horizon", 600), h("start", start0), h("step", 60)}, `{"binary_data_output":true}`, "")
			if after := postBinary(t, s, path, body, strconv.Itoa(n)); after.status != http.StatusOK || !equalFloats(after.floats["yhat"], want.floats["yhat"]) {
				t.Fatalf("after the bad request: status %d %s", after.status, after.json.Error)
			}
		})
	}

	var md struct {
		Extensions []string `json:"extensions"`
	}
	if r := s.get("/v2"); r.status != http.StatusOK || json.Unmarshal(r.body, &md) != nil || !contains(md.Extensions, "binary_tensor_data") {
		t.Fatalf("server metadata %s: want extension binary_tensor_data", r.body)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
