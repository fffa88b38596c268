// Command abort calls env.abort the way AssemblyScript does, with UTF-16
// strings prefixed by their byte length.
package main

import (
	"encoding/binary"
	"unicode/utf16"
	"unsafe"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

//go:wasmimport env abort
func abort(message, file, line, column uint32)

var keep [][]byte

// asString lays s out as an AssemblyScript string and returns its address.
func asString(s string) uint32 {
	u := utf16.Encode([]rune(s))
	b := binary.LittleEndian.AppendUint32(nil, uint32(2*len(u)))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	keep = append(keep, b)
	return uint32(uintptr(unsafe.Pointer(&b[4])))
}

type plugin struct{}

func (plugin) Describe() abi.Description { return abi.Description{Name: "abort", Version: "1.0.0"} }

func (plugin) Train(*abi.TrainRequest) (*abi.TrainResponse, error) {
	abort(asString("assertion failed: season > 0"), asString("assembly/index.ts"), 42, 7)
	return &abi.TrainResponse{}, nil
}

func (plugin) Predict(r *abi.PredictRequest) (*abi.PredictResponse, error) {
	return &abi.PredictResponse{Yhat: make([]float64, len(r.Timestamps))}, nil
}

func init() { sdk.Register(plugin{}) }

func main() {}
