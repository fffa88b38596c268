// Package sdk lets a forecaster plugin be written in plain Go: implement
// Plugin, call Register from main's init, and build with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// The SDK provides the ABI exports (ppa_abi_version, ppa_alloc, ppa_free,
// ppa_describe, ppa_train, ppa_predict), owns memory management and the wire
// encoding, and turns returned errors into ABI status codes. The same Plugin
// value can be called natively (tests, benchmarks) with identical results.
package sdk

import "github.com/ppa-autoscaler/ppa/abi"

// Plugin is what a forecaster implements.
type Plugin interface {
	// Describe returns the plugin's self-description. It must be constant.
	Describe() abi.Description
	// Train fits a model on the request's series and returns its bytes.
	// Return an *abi.Error to choose the status; other errors become
	// INTERNAL.
	Train(req *abi.TrainRequest) (*abi.TrainResponse, error)
	// Predict forecasts the request's timestamps with a model Train made.
	Predict(req *abi.PredictRequest) (*abi.PredictResponse, error)
}
