package scaler

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ppa-autoscaler/ppa/host/policy"
	"github.com/ppa-autoscaler/ppa/host/runtime/inferencepb"
)

// Forecast is a forecast curve as the runtime returns it.
type Forecast struct {
	// Model is "namespace/name"; Version is the model version that made it.
	Model, Version string
	// DS holds Unix seconds; Yhat, Lower, Upper are aligned (bounds may be nil).
	DS                 []int64
	Yhat, Lower, Upper []float64
	// Fetched is when the scaler received it (scaler clock).
	Fetched time.Time
	// Policy is the model version's learned scaling policy, sent with the
	// forecast; PolicyErr says why there is none (missing or corrupt in the
	// manifest, or undecodable), naming the version.
	Policy    *policy.Policy
	PolicyErr error
}

// ForecastSource fetches forecasts for a model from a runtime.
type ForecastSource interface {
	// Forecast asks the runtime at address for model's forecast over
	// [start, start+horizon] at the model's step. A zero start lets the
	// runtime anchor the curve at its now, rounded down to the model's
	// step, which its forecast cache answers without calling the plugin.
	Forecast(ctx context.Context, address, model string, start time.Time, horizon time.Duration) (*Forecast, error)
}

// ErrNoPolicy says a forecast came without a usable learned policy.
var ErrNoPolicy = errors.New("no usable scaling policy")

// ErrReactivePolicy says the learned policy is reactive: serve the current
// value.
var ErrReactivePolicy = errors.New("the learned policy is reactive")

// ErrModelNotFound is returned when the runtime does not serve the model.
var ErrModelNotFound = errors.New("model not served by the runtime")

// OIPClient is a ForecastSource speaking Open Inference Protocol v2 over
// gRPC. Connections are pooled per address and reused; every call has a
// deadline.
type OIPClient struct {
	timeout time.Duration
	creds   credentials.TransportCredentials

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// NewOIPClient returns a client with the given per-call timeout. creds nil
// means plaintext.
func NewOIPClient(timeout time.Duration, creds credentials.TransportCredentials) *OIPClient {
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	return &OIPClient{timeout: timeout, creds: creds, conns: map[string]*grpc.ClientConn{}}
}

func (c *OIPClient) conn(address string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.conns[address]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(address, grpc.WithTransportCredentials(c.creds), grpc.WithConnectParams(connectParams))
	if err != nil {
		return nil, fmt.Errorf("runtime %s: %w", address, err)
	}
	c.conns[address] = cc
	return cc, nil
}

// connectParams make a restarted runtime reachable again within about
// MaxDelay: gRPC's default back-off grows to 120s while the runtime is down
// (25–30s to recover after a restart, measured), which a scaler whose
// forecasts age in minutes cannot afford. A dial to a loopback or cluster
// address either connects or fails fast, so a short connect timeout is
// enough.
var connectParams = grpc.ConnectParams{
	Backoff: backoff.Config{
		BaseDelay:  100 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   2 * time.Second,
	},
	MinConnectTimeout: 2 * time.Second,
}

// Forecast implements ForecastSource.
func (c *OIPClient) Forecast(ctx context.Context, address, model string, start time.Time, horizon time.Duration) (*Forecast, error) {
	cc, err := c.conn(address)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The protocol names a model by its name; its namespace goes in a
	// parameter the runtime checks, so that a runtime serving several
	// namespaces never answers with another namespace's model.
	name, namespace := model, ""
	if i := lastSlash(model); i >= 0 {
		name, namespace = model[i+1:], model[:i]
	}
	req := &inferencepb.ModelInferRequest{
		ModelName: name,
		Inputs: []*inferencepb.ModelInferRequest_InferInputTensor{
			int64Input("horizon", int64(horizon/time.Second)),
		},
	}
	if !start.IsZero() {
		req.Inputs = append(req.Inputs, int64Input("start", start.Unix()))
	}
	if namespace != "" {
		req.Parameters = map[string]*inferencepb.InferParameter{
			"namespace": {ParameterChoice: &inferencepb.InferParameter_StringParam{StringParam: namespace}},
		}
	}
	resp, err := inferencepb.NewGRPCInferenceServiceClient(cc).ModelInfer(ctx, req)
	if err != nil {
		if status.Code(err) == codes.Unavailable {
			// The runtime is down or restarting: try to connect again now
			// rather than after the back-off, so the next call may succeed.
			cc.ResetConnectBackoff()
		}
		if status.Code(err) == codes.NotFound {
			return nil, fmt.Errorf("runtime %s: model %s: %w", address, model, ErrModelNotFound)
		}
		return nil, fmt.Errorf("runtime %s: model %s: infer: %w", address, model, err)
	}
	f, err := decodeForecast(resp)
	if err != nil {
		return nil, fmt.Errorf("runtime %s: model %s: %w", address, model, err)
	}
	f.Model = model
	return f, nil
}

// Close closes every pooled connection.
func (c *OIPClient) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for a, cc := range c.conns {
		if err := cc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s: %w", a, err))
		}
		delete(c.conns, a)
	}
	return errors.Join(errs...)
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			return i
		}
	}
	return -1
}

func int64Input(name string, v int64) *inferencepb.ModelInferRequest_InferInputTensor {
	return &inferencepb.ModelInferRequest_InferInputTensor{
		Name: name, Datatype: "INT64", Shape: []int64{1},
		Contents: &inferencepb.InferTensorContents{Int64Contents: []int64{v}},
	}
}

func decodeForecast(resp *inferencepb.ModelInferResponse) (*Forecast, error) {
	f := &Forecast{Version: resp.GetModelVersion()}
	switch ps := resp.GetParameters(); {
	case ps["policy"] != nil:
		p, err := policy.Parse([]byte(ps["policy"].GetStringParam()))
		if err != nil {
			f.PolicyErr = fmt.Errorf("model version %s: %w", f.Version, err)
		} else {
			f.Policy = p
		}
	case ps["policy_error"] != nil:
		f.PolicyErr = fmt.Errorf("%w: %s", ErrNoPolicy, ps["policy_error"].GetStringParam())
	default:
		f.PolicyErr = fmt.Errorf("%w: model version %s: the runtime sent none (a runtime older than policies?)", ErrNoPolicy, f.Version)
	}
	raw := resp.GetRawOutputContents()
	for i, out := range resp.GetOutputs() {
		var rawBytes []byte
		if i < len(raw) {
			rawBytes = raw[i]
		}
		switch out.GetName() {
		case "ds":
			v, err := int64s(out, rawBytes)
			if err != nil {
				return nil, err
			}
			f.DS = v
		case "yhat", "yhat_lower", "yhat_upper":
			v, err := float64s(out, rawBytes)
			if err != nil {
				return nil, err
			}
			switch out.GetName() {
			case "yhat":
				f.Yhat = v
			case "yhat_lower":
				f.Lower = v
			default:
				f.Upper = v
			}
		}
	}
	if len(f.DS) == 0 || len(f.DS) != len(f.Yhat) {
		return nil, fmt.Errorf("response has %d ds and %d yhat values", len(f.DS), len(f.Yhat))
	}
	if f.Lower != nil && len(f.Lower) != len(f.DS) || f.Upper != nil && len(f.Upper) != len(f.DS) {
		return nil, fmt.Errorf("response bounds do not match its %d points", len(f.DS))
	}
	return f, nil
}

func int64s(out *inferencepb.ModelInferResponse_InferOutputTensor, raw []byte) ([]int64, error) {
	if out.GetDatatype() != "INT64" {
		return nil, fmt.Errorf("output %q: datatype %s, want INT64", out.GetName(), out.GetDatatype())
	}
	if c := out.GetContents(); c != nil && len(c.GetInt64Contents()) > 0 {
		return c.GetInt64Contents(), nil
	}
	if len(raw)%8 != 0 {
		return nil, fmt.Errorf("output %q: %d raw bytes is not a whole number of INT64", out.GetName(), len(raw))
	}
	v := make([]int64, len(raw)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(raw[i*8:]))
	}
	return v, nil
}

func float64s(out *inferencepb.ModelInferResponse_InferOutputTensor, raw []byte) ([]float64, error) {
	if out.GetDatatype() != "FP64" {
		return nil, fmt.Errorf("output %q: datatype %s, want FP64", out.GetName(), out.GetDatatype())
	}
	if c := out.GetContents(); c != nil && len(c.GetFp64Contents()) > 0 {
		return c.GetFp64Contents(), nil
	}
	if len(raw)%8 != 0 {
		return nil, fmt.Errorf("output %q: %d raw bytes is not a whole number of FP64", out.GetName(), len(raw))
	}
	v := make([]float64, len(raw)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[i*8:]))
	}
	return v, nil
}
