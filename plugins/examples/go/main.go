// Command drift is an example forecaster plugin written with the Go plugin
// SDK, in a module of its own whose go.mod requires only the SDK module
// (github.com/ppa-autoscaler/ppa/plugins/sdk) and the ABI module
// (github.com/ppa-autoscaler/ppa/abi); see README.md. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o drift.wasm .
//
// and check it with `ppa plugin verify drift.wasm`.
package main

import "github.com/ppa-autoscaler/ppa/plugins/sdk"

func init() { sdk.Register(Drift{}) }

func main() {}
