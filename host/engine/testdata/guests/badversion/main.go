// Command badversion claims ABI 2.0.0.
package main

import "github.com/ppa-autoscaler/ppa/host/engine/internal/rawabi"

//go:wasmexport ppa_abi_version
func version() int32 { return 2 << 16 }

//go:wasmexport ppa_alloc
func alloc(size int32) int32 { return rawabi.Alloc(size) }

//go:wasmexport ppa_free
func free(ptr, size int32) { rawabi.Free(ptr) }

//go:wasmexport ppa_describe
func describe() int64 { panic("ppa_describe must not be called before the version check") }

//go:wasmexport ppa_train
func train(ptr, size int32) int64 { return 0 }

//go:wasmexport ppa_predict
func predict(ptr, size int32) int64 { return 0 }

func main() {}
