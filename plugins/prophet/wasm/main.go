// Command wasm is the prophet forecaster plugin built for WebAssembly:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o prophet.wasm ./plugins/prophet/wasm
package main

import (
	"github.com/ppa-autoscaler/ppa/plugins/prophet"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

func init() {
	sdk.Register(prophet.NewPlugin())
}

func main() {}
