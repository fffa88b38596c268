// Command broken is a deliberately non-conformant plugin for the tests of
// package conformance. Its faults, each caught by a named check:
//
//   - version "0.1" is not a semantic version (describe);
//   - it accepts any parameter (unknown-parameter, bad-parameter-type) and
//     an empty series (too-few-points);
//   - its upper bound lies below its forecast (round-trip/*);
//   - every training gives a new model (determinism);
//   - predict indexes the model without checking its length, so garbage
//     bytes panic, which the SDK reports as INTERNAL (garbage-model).
package main

import (
	"encoding/binary"
	"math"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

type broken struct{ trainings uint64 }

func (*broken) Describe() abi.Description {
	return abi.Description{
		Name:    "broken",
		Version: "0.1",
		Parameters: []abi.Parameter{
			{Name: "level", Type: abi.ParamFloat, Default: 1.0},
		},
		Capabilities: abi.Capabilities{Intervals: true, MinPoints: 3},
	}
}

func (b *broken) Train(req *abi.TrainRequest) (*abi.TrainResponse, error) {
	b.trainings++
	var sum float64
	for _, y := range req.Values {
		if !math.IsNaN(y) {
			sum += y
		}
	}
	m := binary.LittleEndian.AppendUint64(nil, math.Float64bits(sum/float64(max(len(req.Values), 1))))
	m = binary.LittleEndian.AppendUint64(m, b.trainings)
	return &abi.TrainResponse{Model: m}, nil
}

func (*broken) Predict(req *abi.PredictRequest) (*abi.PredictResponse, error) {
	mean := math.Float64frombits(binary.LittleEndian.Uint64(req.Model[:8]))
	out := &abi.PredictResponse{}
	for range req.Timestamps {
		out.Yhat = append(out.Yhat, mean)
		out.Lower = append(out.Lower, mean-1)
		out.Upper = append(out.Upper, mean-0.5)
	}
	return out, nil
}

func init() { sdk.Register(&broken{}) }

func main() {}
