// Command exit calls os.Exit(3) (WASI proc_exit) in train.
package main

import (
	"fmt"
	"os"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

type plugin struct{}

func (plugin) Describe() abi.Description { return abi.Description{Name: "exit", Version: "1.0.0"} }

func (plugin) Train(*abi.TrainRequest) (*abi.TrainResponse, error) {
	fmt.Fprintln(os.Stderr, "giving up: exiting with code 3")
	os.Exit(3)
	return nil, nil
}

func (plugin) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) {
	return &abi.PredictResponse{Yhat: make([]float64, len(r.Timestamps))}, nil
}

func init() { sdk.Register(plugin{}) }

func main() {}
