// Command wasm is the seasonal-profile plugin as a WebAssembly module. Build
// it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o seasonal-profile.wasm ./plugins/seasonalprofile/wasm
//
// or `make plugins`, which puts it in plugins/builtin/wasm.
package main

import (
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalprofile"
)

func init() { sdk.Register(seasonalprofile.New()) }

func main() {}
