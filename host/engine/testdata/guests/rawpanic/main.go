// Command rawpanic exports the ABI by hand and panics in ppa_train with no
// recovery.
package main

import "github.com/ppa-autoscaler/ppa/host/engine/internal/rawabi"

//go:wasmexport ppa_abi_version
func version() int32 { return 1 << 16 }

//go:wasmexport ppa_alloc
func alloc(size int32) int32 { return rawabi.Alloc(size) }

//go:wasmexport ppa_free
func free(ptr, size int32) { rawabi.Free(ptr) }

//go:wasmexport ppa_describe
func describe() int64 { return rawabi.Describe("rawpanic") }

//go:wasmexport ppa_train
func train(ptr, size int32) int64 { panic("raw export panicked") }

//go:wasmexport ppa_predict
func predict(ptr, size int32) int64 { panic("raw export panicked") }

func main() {}
