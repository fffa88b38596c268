// Command oversized answers predict with 2 MiB of forecasts, whatever was
// asked.
package main

import (
	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

type plugin struct{}

func (plugin) Describe() abi.Description { return abi.Description{Name: "oversized", Version: "1.0.0"} }

func (plugin) Train(*abi.TrainRequest) (*abi.TrainResponse, error) {
	return &abi.TrainResponse{Model: []byte{1}}, nil
}

func (plugin) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) {
	return &abi.PredictResponse{Yhat: make([]float64, 1<<18)}, nil
}

func init() { sdk.Register(plugin{}) }

func main() {}
