package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

// Forecaster is what host code needs from a plugin. *Plugin implements it
// by running a wasm module; Native runs a Go sdk.Plugin in-process.
type Forecaster interface {
	// Description returns the plugin's self-description.
	Description() abi.Description
	// Train fits a model. A status the plugin reports is an *abi.Error.
	Train(ctx context.Context, req *abi.TrainRequest) (*abi.TrainResponse, error)
	// Predict forecasts with a model Train returned. A status the plugin
	// reports is an *abi.Error.
	Predict(ctx context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error)
}

// Native adapts a Go plugin to Forecaster without wasm. Requests and
// responses go through the ABI encoding and sdk.Call, the code path of the
// wasm exports, so results, errors and statuses match those of the same
// plugin built to wasm.
//
// # Notes
//
//   - There is no sandbox, memory limit or timeout: ctx is only checked
//     before a call starts, and a native plugin that loops forever hangs
//     its caller. Use Native for trusted built-in plugins and tests.
//   - Describe is called once, here.
func Native(p sdk.Plugin) Forecaster {
	n := &native{p: p, desc: p.Describe()}
	// Round-trip the description through its JSON form, as a host reads
	// it from ppa_describe (numbers become float64 and so on).
	if b, err := json.Marshal(&n.desc); err == nil {
		var d abi.Description
		if json.Unmarshal(b, &d) == nil {
			n.desc = d
		}
	}
	n.label = fmt.Sprintf("%s %s (native)", n.desc.Name, n.desc.Version)
	return n
}

type native struct {
	p     sdk.Plugin
	desc  abi.Description
	label string
}

func (n *native) Description() abi.Description { return n.desc }

func (n *native) Train(ctx context.Context, req *abi.TrainRequest) (*abi.TrainResponse, error) {
	var resp *abi.TrainResponse
	err := n.call(ctx, abi.ExportTrain, func() ([]byte, error) { return abi.EncodeTrainRequest(req) },
		func(b []byte) (err error) { resp, err = abi.DecodeTrainResponse(b); return err })
	return resp, err
}

func (n *native) Predict(ctx context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error) {
	var resp *abi.PredictResponse
	err := n.call(ctx, abi.ExportPredict, func() ([]byte, error) { return abi.EncodePredictRequest(req) },
		func(b []byte) (err error) {
			resp, err = abi.DecodePredictResponse(b)
			if err == nil && len(resp.Yhat) != len(req.Timestamps) {
				err = fmt.Errorf("predict response: %d point forecasts for %d timestamps", len(resp.Yhat), len(req.Timestamps))
			}
			return err
		})
	return resp, err
}

func (n *native) call(ctx context.Context, export string, encode func() ([]byte, error), decode func([]byte) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("plugin %s: %s: %w", n.label, export, err)
	}
	in, err := encode()
	if err != nil {
		return fmt.Errorf("plugin %s: %s: %w", n.label, export, err)
	}
	payload, err := abi.DecodeResult(sdk.Call(n.p, export, in))
	if err != nil {
		var ae *abi.Error
		if errors.As(err, &ae) {
			err = knownStatus(ae)
		}
		return fmt.Errorf("plugin %s: %s: %w", n.label, export, err)
	}
	if err := decode(payload); err != nil {
		return fmt.Errorf("plugin %s: %s: malformed result: %w", n.label, export, err)
	}
	return nil
}
