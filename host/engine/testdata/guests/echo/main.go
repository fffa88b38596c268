// Command echo is the healthy test plugin: the echo forecaster behind the
// Go SDK.
package main

import (
	"github.com/ppa-autoscaler/ppa/host/engine/internal/echo"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

func init() { sdk.Register(echo.Plugin{}) }

func main() {}
