// Command badptr returns results that break the ABI: train names a buffer
// past the end of memory, predict returns ptr=0, len=0.
package main

import (
	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine/internal/rawabi"
)

//go:wasmexport ppa_abi_version
func version() int32 { return 1 << 16 }

//go:wasmexport ppa_alloc
func alloc(size int32) int32 { return rawabi.Alloc(size) }

//go:wasmexport ppa_free
func free(ptr, size int32) { rawabi.Free(ptr) }

//go:wasmexport ppa_describe
func describe() int64 { return rawabi.Describe("badptr") }

//go:wasmexport ppa_train
func train(ptr, size int32) int64 { return int64(abi.PackResult(0xfffffff0, 64)) }

//go:wasmexport ppa_predict
func predict(ptr, size int32) int64 { return 0 }

func main() {}
