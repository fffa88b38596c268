// Command gopanic panics in a goroutine that train starts, out of the
// SDK's reach: the Go runtime dies.
package main

import (
	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

type plugin struct{}

func (plugin) Describe() abi.Description { return abi.Description{Name: "gopanic", Version: "1.0.0"} }

func (plugin) Train(*abi.TrainRequest) (*abi.TrainResponse, error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		panic("escaped from train")
	}()
	<-done
	return &abi.TrainResponse{}, nil
}

func (plugin) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) {
	return &abi.PredictResponse{Yhat: make([]float64, len(r.Timestamps))}, nil
}

func init() { sdk.Register(plugin{}) }

func main() {}
