// Package echo is a tiny, well-behaved forecaster used to test the engine:
// train stores the mean of the values (plus an optional offset), predict
// returns it for every timestamp with bounds one below and one above.
//
// Its "fail" parameter makes it misbehave on purpose in recoverable ways:
// "status:N" returns an *abi.Error with status N, "error" a plain error,
// "panic" panics and "nil" dereferences a nil pointer (the SDK recovers
// both).
package echo

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/ppa-autoscaler/ppa/abi"
)

// Plugin implements sdk.Plugin.
type Plugin struct{}

// Describe implements sdk.Plugin.
func (Plugin) Describe() abi.Description {
	return abi.Description{
		Name:        "echo",
		Version:     "1.0.0",
		Description: "predicts the training mean; a test fixture",
		Parameters: []abi.Parameter{
			{Name: "offset", Type: abi.ParamFloat, Default: 0.0, Description: "added to the mean"},
			{Name: "fail", Type: abi.ParamString, Description: "status:N, error, panic or nil: fail on purpose"},
		},
		Capabilities: abi.Capabilities{Intervals: true, MinPoints: 1},
	}
}

type box struct{ v int }

// Train implements sdk.Plugin.
func (p Plugin) Train(req *abi.TrainRequest) (*abi.TrainResponse, error) {
	d := p.Describe()
	if err := req.Params.Unknown(&d); err != nil {
		return nil, err
	}
	offset, err := req.Params.Float("offset", 0)
	if err != nil {
		return nil, err
	}
	fail, err := req.Params.String("fail", "")
	if err != nil {
		return nil, err
	}
	switch {
	case fail == "":
	case strings.HasPrefix(fail, "status:"):
		n, err := strconv.Atoi(strings.TrimPrefix(fail, "status:"))
		if err != nil {
			return nil, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %v", "fail", err)
		}
		return nil, abi.Errorf(abi.Status(n), "asked to fail with status %d", n)
	case fail == "error":
		return nil, errors.New("asked to fail with a plain error")
	case fail == "panic":
		panic("asked to panic")
	case fail == "nil":
		var b *box
		return nil, errors.New(strconv.Itoa(b.v))
	default:
		return nil, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: unknown mode %q", "fail", fail)
	}
	sum, n := 0.0, 0
	for _, v := range req.Values {
		if !math.IsNaN(v) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return nil, abi.Errorf(abi.StatusInsufficientData, "no non-missing values")
	}
	model := binary.LittleEndian.AppendUint64(nil, math.Float64bits(sum/float64(n)+offset))
	return &abi.TrainResponse{Model: model, Info: map[string]any{"points": n}}, nil
}

// Predict implements sdk.Plugin.
func (Plugin) Predict(req *abi.PredictRequest) (*abi.PredictResponse, error) {
	if len(req.Model) != 8 {
		return nil, abi.Errorf(abi.StatusInvalidModel, "model of %d bytes, want 8", len(req.Model))
	}
	mean := math.Float64frombits(binary.LittleEndian.Uint64(req.Model))
	out := &abi.PredictResponse{
		Yhat:  make([]float64, len(req.Timestamps)),
		Lower: make([]float64, len(req.Timestamps)),
		Upper: make([]float64, len(req.Timestamps)),
	}
	for i := range req.Timestamps {
		out.Yhat[i], out.Lower[i], out.Upper[i] = mean, mean-1, mean+1
	}
	return out, nil
}
