// Command oom allocates without bound in train, touching every page, until
// the memory limit stops it; predict works.
package main

import (
	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

type plugin struct{}

func (plugin) Describe() abi.Description { return abi.Description{Name: "oom", Version: "1.0.0"} }

var hoard [][]byte

func (plugin) Train(*abi.TrainRequest) (*abi.TrainResponse, error) {
	for {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 { // touch every page, as a real hog would
			b[i] = 1
		}
		hoard = append(hoard, b)
	}
}

func (plugin) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) {
	return &abi.PredictResponse{Yhat: make([]float64, len(r.Timestamps))}, nil
}

func init() { sdk.Register(plugin{}) }

func main() {}
