// Package clients tests the runtime with the Open Inference Protocol's real
// Python clients, installed from PyPI by test/scripts/install-pyclients.sh
// (make deps): Triton's tritonclient (HTTP and gRPC, default settings, so
// binary tensors over HTTP) and the KServe SDK's InferenceRESTClient and
// InferenceGRPCClient. Each client runs as a Python script against a
// runtime serving a small trained model; the script reports what it saw as
// JSON and this test checks it against the forecast the runtime gives in
// plain JSON.
package clients

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/runtime"
	"github.com/ppa-autoscaler/ppa/internal/teststore"
	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// start0 is the first forecast time asked for: the end of the test
// model's training data (2026-03-02T00:00:00Z).
var start0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC).Unix()

// python returns the interpreter of the client's virtualenv, failing the
// test with a hint when make deps has not made it.
func python(t *testing.T, client string) string {
	t.Helper()
	p := filepath.Join(testenv.BinDir(), "pyclients", client, "bin", "python")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the %s client's virtualenv is missing (%v): run make deps or test/scripts/install-pyclients.sh", client, err)
	}
	return p
}

// serve starts a runtime serving team-a/cpu, whose version has a learned
// policy.
func serve(t *testing.T) *runtime.Server {
	t.Helper()
	pol, err := json.Marshal(policy.Policy{Mode: policy.ModePredictive, Reason: "clients test", Forecaster: "seasonal-naive",
		Decision: &policy.Decision{Aggregation: "max", Bound: "yhat", ReactiveFloor: true}})
	if err != nil {
		t.Fatal(err)
	}
	return teststore.ServeSeasonalNaive(t, pol)
}

// reference is the forecast the runtime answers in plain JSON.
type reference struct {
	DS   []int64   `json:"ds"`
	Yhat []float64 `json:"yhat"`
	// names are the outputs, in order (JSON answer only).
	names []string
}

func jsonForecast(t *testing.T, srv *runtime.Server) reference {
	t.Helper()
	body := fmt.Sprintf(`{"inputs":[{"name":"horizon","shape":[1],"datatype":"INT64","data":[600]},`+
		`{"name":"start","shape":[1],"datatype":"INT64","data":[%d]},{"name":"step","shape":[1],"datatype":"INT64","data":[60]}]}`, start0)
	resp, err := http.Post("http://"+srv.HTTPAddr()+"/v2/models/cpu/infer", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Outputs []struct {
			Name string          `json:"name"`
			Data json.RawMessage `json:"data"`
		} `json:"outputs"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil {
		t.Fatalf("JSON inference: %d %s", resp.StatusCode, b)
	}
	var ref reference
	for _, o := range out.Outputs {
		ref.names = append(ref.names, o.Name)
		switch o.Name {
		case "ds":
			err = json.Unmarshal(o.Data, &ref.DS)
		case "yhat":
			err = json.Unmarshal(o.Data, &ref.Yhat)
		}
		if err != nil {
			t.Fatalf("output %s: %v", o.Name, err)
		}
	}
	if len(ref.DS) != 11 || len(ref.Yhat) != 11 || len(ref.names) != 4 {
		t.Fatalf("JSON inference: %d times, %d values, outputs %v; want 11, 11, and ds, yhat and the interval", len(ref.DS), len(ref.Yhat), ref.names)
	}
	return ref
}

// runClient runs script with the venv's python and decodes its report.
func runClient(t *testing.T, client, script string, args ...string) map[string]json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python(t, client), append([]string{script}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", client, script, err, stdout.Bytes(), stderr.Bytes())
	}
	var report map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &report); err != nil {
		t.Fatalf("%s: report %q: %v\nstderr: %s", script, stdout.Bytes(), err, stderr.Bytes())
	}
	return report
}

// obs is one client's observations (the union of what the scripts report).
type obs struct {
	Live              bool     `json:"live"`
	Ready             bool     `json:"ready"`
	ModelReady        bool     `json:"model_ready"`
	UnknownModelReady *bool    `json:"unknown_model_ready"`
	Extensions        []string `json:"extensions"`
	Metadata          *struct {
		Name    string   `json:"name"`
		Inputs  []string `json:"inputs"`
		Outputs []string `json:"outputs"`
	} `json:"metadata"`
	All                   *reference      `json:"all"`
	Binary                *reference      `json:"binary"`
	JSON                  *reference      `json:"json"`
	AfterErrors           *reference      `json:"after_errors"`
	AllBinary             []string        `json:"all_binary"`
	Policy                json.RawMessage `json:"policy"`
	YhatOnly              []float64       `json:"yhat_only"`
	YhatOnlyNames         []string        `json:"yhat_only_names"`
	YhatOnlyID            string          `json:"yhat_only_id"`
	BinaryHeader          *string         `json:"binary_header"`
	BinaryID              string          `json:"binary_id"`
	NegativeHorizonError  *string         `json:"negative_horizon_error"`
	NegativeHorizonStatus int             `json:"negative_horizon_status"`
	UnknownModelError     *string         `json:"unknown_model_error"`
}

func decodeObs(t *testing.T, raw json.RawMessage) obs {
	t.Helper()
	var o obs
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatalf("observations %s: %v", raw, err)
	}
	return o
}

func checkForecast(t *testing.T, what string, got *reference, want reference) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: no forecast", what)
		return
	}
	if fmt.Sprint(got.DS) != fmt.Sprint(want.DS) || fmt.Sprint(got.Yhat) != fmt.Sprint(want.Yhat) {
		t.Errorf("%s: ds %v yhat %v; want %v %v", what, got.DS, got.Yhat, want.DS, want.Yhat)
	}
}

func checkHealth(t *testing.T, o obs) {
	t.Helper()
	if !o.Live || !o.Ready || !o.ModelReady {
		t.Errorf("live %v, ready %v, model ready %v; want all true", o.Live, o.Ready, o.ModelReady)
	}
}

func checkPolicy(t *testing.T, raw json.RawMessage) {
	t.Helper()
	var p policy.Policy
	if err := json.Unmarshal(raw, &p); err != nil || p.Mode != policy.ModePredictive || p.Reason != "clients test" {
		t.Errorf("response parameter policy %s: want the model's policy (mode predictive)", raw)
	}
}

func checkError(t *testing.T, what string, got *string, want string) {
	t.Helper()
	if got == nil || !strings.Contains(*got, want) {
		t.Errorf("%s: error %v; want one mentioning %q", what, deref(got), want)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<none>"
	}
	return strconv.Quote(*s)
}

// TestPythonClients runs each client's script against one runtime.
func TestPythonClients(t *testing.T) {
	srv := serve(t)
	want := jsonForecast(t, srv)
	httpAddr, grpcAddr, start := srv.HTTPAddr(), srv.GRPCAddr(), strconv.FormatInt(start0, 10)

	t.Run("tritonclient", func(t *testing.T) {
		t.Parallel()
		report := runClient(t, "triton", "triton_client.py", httpAddr, grpcAddr, "cpu", start)
		t.Run("http", func(t *testing.T) {
			o := decodeObs(t, report["http"])
			checkHealth(t, o)
			if o.UnknownModelReady == nil || *o.UnknownModelReady {
				t.Errorf("is_model_ready(unknown) = %v; want false", o.UnknownModelReady)
			}
			if !contains(o.Extensions, runtime.ExtensionBinaryData) {
				t.Errorf("server metadata extensions %v; want %s", o.Extensions, runtime.ExtensionBinaryData)
			}
			checkMetadata(t, o, want.names)
			checkForecast(t, "infer, all outputs", o.All, want)
			if fmt.Sprint(o.AllBinary) != fmt.Sprint(want.names) {
				t.Errorf("outputs returned as binary: %v; want %v, all (the client's default)", o.AllBinary, want.names)
			}
			checkPolicy(t, o.Policy)
			if fmt.Sprint(o.YhatOnly) != fmt.Sprint(want.Yhat) || fmt.Sprint(o.YhatOnlyNames) != "[yhat]" || o.YhatOnlyID != "r-2" {
				t.Errorf("infer yhat only: outputs %v id %q values %v; want [yhat] r-2 %v", o.YhatOnlyNames, o.YhatOnlyID, o.YhatOnly, want.Yhat)
			}
			checkError(t, "negative horizon", o.NegativeHorizonError, `input "horizon": -60: must not be negative`)
			checkError(t, "unknown model", o.UnknownModelError, `model "no-such-model" is not served here`)
			checkForecast(t, "infer after the errors", o.AfterErrors, want)
		})
		t.Run("grpc", func(t *testing.T) {
			o := decodeObs(t, report["grpc"])
			checkHealth(t, o)
			if !contains(o.Extensions, runtime.ExtensionBinaryData) {
				t.Errorf("server metadata extensions %v; want %s", o.Extensions, runtime.ExtensionBinaryData)
			}
			checkMetadata(t, o, want.names)
			checkForecast(t, "infer", o.All, want)
			checkPolicy(t, o.Policy)
			checkError(t, "negative horizon", o.NegativeHorizonError, `must not be negative`)
			checkError(t, "unknown model", o.UnknownModelError, `model "no-such-model" is not served here`)
			checkForecast(t, "infer after the errors", o.AfterErrors, want)
		})
	})

	t.Run("kserve", func(t *testing.T) {
		t.Parallel()
		report := runClient(t, "kserve", "kserve_client.py", "http://"+httpAddr, grpcAddr, "cpu", start)
		t.Run("rest", func(t *testing.T) {
			o := decodeObs(t, report["rest"])
			checkHealth(t, o)
			checkForecast(t, "infer with binary tensors", o.Binary, want)
			if o.BinaryHeader == nil || o.BinaryID != "k-1" {
				t.Errorf("binary response: %s %s, id %q; want the header and id k-1", runtime.HeaderInferenceLength, deref(o.BinaryHeader), o.BinaryID)
			}
			checkPolicy(t, o.Policy)
			checkForecast(t, "infer with JSON tensors", o.JSON, want)
			checkError(t, "negative horizon", o.NegativeHorizonError, `must not be negative`)
			if o.NegativeHorizonStatus != http.StatusBadRequest {
				t.Errorf("negative horizon: status %d; want 400", o.NegativeHorizonStatus)
			}
			checkForecast(t, "infer after the errors", o.AfterErrors, want)
		})
		t.Run("grpc", func(t *testing.T) {
			o := decodeObs(t, report["grpc"])
			checkHealth(t, o)
			checkForecast(t, "infer", o.All, want)
			checkError(t, "negative horizon", o.NegativeHorizonError, `INVALID_ARGUMENT: input "horizon": -60: must not be negative`)
			checkForecast(t, "infer after the errors", o.AfterErrors, want)
		})
	})
}

func checkMetadata(t *testing.T, o obs, outputs []string) {
	t.Helper()
	if o.Metadata == nil || o.Metadata.Name != "cpu" || fmt.Sprint(o.Metadata.Inputs) != "[horizon start step]" || fmt.Sprint(o.Metadata.Outputs) != fmt.Sprint(outputs) {
		t.Errorf("model metadata %+v; want cpu with inputs [horizon start step], outputs %v", o.Metadata, outputs)
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
