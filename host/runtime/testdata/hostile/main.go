// Command hostile is a test plugin that misbehaves on purpose, to show that
// one model's broken plugin does not hurt the others a runtime serves.
//
// Its model is the mode it was trained with (parameter "mode"): "ok"
// answers a constant 1; "trap" makes the guest trap (an out-of-bounds memory
// access); "hang" loops forever; "exit" calls proc_exit. Only predictions of
// more than one timestamp misbehave: the runtime's one-point load check
// passes, as it would for a plugin whose failure depends on the input.
//
// Built by the tests with internal/testwasm (GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared).
package main

import (
	"os"
	"unsafe"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

type hostile struct{}

func (hostile) Describe() abi.Description {
	return abi.Description{
		Name:    "hostile",
		Version: "1.0.0",
		Parameters: []abi.Parameter{{Name: "mode", Type: abi.ParamString, Default: "ok",
			Enum: []string{"ok", "trap", "hang", "exit"}}},
		Capabilities: abi.Capabilities{MinPoints: 1},
	}
}

func (h hostile) Train(req *abi.TrainRequest) (*abi.TrainResponse, error) {
	d := h.Describe()
	if err := d.CheckParams(req.Params); err != nil {
		return nil, abi.Errorf(abi.StatusInvalidArgument, "%v", err)
	}
	mode, err := req.Params.String("mode", "ok")
	if err != nil {
		return nil, err
	}
	return &abi.TrainResponse{Model: []byte(mode)}, nil
}

// sink keeps the out-of-bounds load from being optimised away.
var sink byte

func (hostile) Predict(req *abi.PredictRequest) (*abi.PredictResponse, error) {
	if len(req.Timestamps) > 1 {
		switch string(req.Model) {
		case "trap":
			sink = *(*byte)(unsafe.Pointer(uintptr(0xfffffff0)))
		case "hang":
			for {
			}
		case "exit":
			os.Exit(3)
		}
	}
	y := make([]float64, len(req.Timestamps))
	for i := range y {
		y[i] = 1
	}
	return &abi.PredictResponse{Yhat: y}, nil
}

func init() { sdk.Register(hostile{}) }

func main() {}
