// Command wasm is the seasonal-naive plugin as a WebAssembly module. Build it
// with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o seasonal-naive.wasm ./plugins/seasonalnaive/wasm
//
// or `make plugins`, which puts it in plugins/builtin/wasm.
package main

import (
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalnaive"
)

func init() { sdk.Register(seasonalnaive.New()) }

func main() {}
