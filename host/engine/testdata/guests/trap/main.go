// Command trap reads through a wild pointer in train, which the Go
// compiler does not check: a wasm out-of-bounds memory access trap.
package main

import (
	"unsafe"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

type plugin struct{}

func (plugin) Describe() abi.Description { return abi.Description{Name: "trap", Version: "1.0.0"} }

// wild is an address far beyond any memory the plugin may have.
var wild uintptr = 0xfffffff0

func (plugin) Train(*abi.TrainRequest) (*abi.TrainResponse, error) {
	p := *(**int64)(unsafe.Pointer(&wild))
	return &abi.TrainResponse{Model: []byte{byte(*p)}}, nil
}

func (plugin) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) {
	return &abi.PredictResponse{Yhat: make([]float64, len(r.Timestamps))}, nil
}

func init() { sdk.Register(plugin{}) }

func main() {}
