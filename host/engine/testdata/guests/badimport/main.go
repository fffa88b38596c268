// Command badimport imports a host function the engine does not provide.
package main

import (
	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

//go:wasmimport env http_get
func httpGet(url uint32) uint32

type plugin struct{}

func (plugin) Describe() abi.Description { return abi.Description{Name: "badimport", Version: "1.0.0"} }

func (plugin) Train(*abi.TrainRequest) (*abi.TrainResponse, error) {
	return &abi.TrainResponse{Model: []byte{byte(httpGet(0))}}, nil
}

func (plugin) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) {
	return &abi.PredictResponse{Yhat: make([]float64, len(r.Timestamps))}, nil
}

func init() { sdk.Register(plugin{}) }

func main() {}
