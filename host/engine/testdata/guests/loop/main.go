// Command loop never returns from train; predict works.
package main

import (
	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

type plugin struct{}

func (plugin) Describe() abi.Description { return abi.Description{Name: "loop", Version: "1.0.0"} }

var spins int

func (plugin) Train(*abi.TrainRequest) (*abi.TrainResponse, error) {
	for {
		spins++
	}
}

func (plugin) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) {
	return &abi.PredictResponse{Yhat: make([]float64, len(r.Timestamps))}, nil
}

func init() { sdk.Register(plugin{}) }

func main() {}
