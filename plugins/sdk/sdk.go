// Package sdk lets a forecaster plugin be written in plain Go: implement
// Plugin, call Register from main's init, and build with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// The SDK provides the ABI exports (ppa_abi_version, ppa_alloc, ppa_free,
// ppa_describe, ppa_train, ppa_predict), owns memory management and the wire
// encoding, and turns returned errors into ABI status codes. The same Plugin
// value can be called natively (tests, benchmarks) with identical results
// through Call, which runs exactly the code path of the wasm exports.
//
// A minimal plugin main:
//
//	package main
//
//	import (
//		"github.com/ppa-autoscaler/ppa/plugins/sdk"
//		"example.com/myforecaster"
//	)
//
//	func init() { sdk.Register(myforecaster.New()) }
//
//	func main() {}
//
// # Module
//
// This package is the Go module github.com/ppa-autoscaler/ppa/plugins/sdk.
// It requires only the ABI module, github.com/ppa-autoscaler/ppa/abi (the
// wire contract the host speaks too), and both need nothing beyond the
// standard library: a plugin's go.mod lists these two and never the PPA
// host's. plugins/examples/go in the PPA repository is a complete plugin
// module to start from.
//
// # Errors
//
// Train and Predict return an *abi.Error to choose the status the host sees;
// any other error becomes INTERNAL with the error's text. A panic inside
// Train, Predict or Describe is recovered and reported as INTERNAL with the
// panic value, so the instance stays usable. Faults the Go runtime cannot
// recover from (a panic in another goroutine, running out of memory, a wild
// pointer) end the instance: the host reports them as a failed call.
package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/plugins/sdk/internal/wasmexport"
)

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

// registered is the plugin the wasm exports serve.
var registered Plugin

// init makes the wasm exports (internal/wasmexport) serve the registered
// plugin through Call, the path native callers take too.
func init() {
	wasmexport.SetHandler(func(export string, request []byte) []byte {
		return Call(registered, export, request)
	})
}

// Register makes p the plugin that the module's ABI exports serve. Call it
// once, from an init function of the plugin's main package; a second call
// or a nil plugin panics (which fails the module's initialisation, so the
// host refuses to load it with the panic message).
func Register(p Plugin) {
	if p == nil {
		panic("sdk: Register called with a nil plugin")
	}
	if registered != nil {
		panic("sdk: Register called twice")
	}
	registered = p
}

// Registered returns the plugin passed to Register, or nil.
func Registered() Plugin { return registered }

// Call runs one ABI function natively, exactly as the wasm export of the
// same name does: it decodes request, calls p and returns the result buffer
// (a u32 status followed by the payload, see abi.EncodeResult).
//
// export is abi.ExportDescribe (request is ignored), abi.ExportTrain or
// abi.ExportPredict; any other name yields an UNSUPPORTED result. Call never
// panics: a panic inside p becomes an INTERNAL result carrying the panic
// value. A request that does not decode yields INVALID_ARGUMENT.
func Call(p Plugin, export string, request []byte) (result []byte) {
	defer func() {
		if v := recover(); v != nil {
			result = abi.EncodeResult(abi.StatusInternal, fmt.Appendf(nil, "%s: panic: %v", export, v))
		}
	}()
	if p == nil {
		return abi.EncodeResult(abi.StatusInternal, []byte("no plugin registered: call sdk.Register from the plugin's init function"))
	}
	switch export {
	case abi.ExportDescribe:
		d := p.Describe()
		b, err := json.Marshal(&d)
		if err != nil {
			return errorResult(fmt.Errorf("encode description: %w", err))
		}
		return abi.EncodeResult(abi.StatusOK, b)
	case abi.ExportTrain:
		req, err := abi.DecodeTrainRequest(request)
		if err != nil {
			return abi.EncodeResult(abi.StatusInvalidArgument, []byte(err.Error()))
		}
		resp, err := p.Train(req)
		if err != nil {
			return errorResult(err)
		}
		if resp == nil {
			return abi.EncodeResult(abi.StatusInternal, []byte("train returned neither a response nor an error"))
		}
		b, err := abi.EncodeTrainResponse(resp)
		if err != nil {
			return errorResult(fmt.Errorf("encode train response: %w", err))
		}
		return abi.EncodeResult(abi.StatusOK, b)
	case abi.ExportPredict:
		req, err := abi.DecodePredictRequest(request)
		if err != nil {
			return abi.EncodeResult(abi.StatusInvalidArgument, []byte(err.Error()))
		}
		resp, err := p.Predict(req)
		if err != nil {
			return errorResult(err)
		}
		if resp == nil {
			return abi.EncodeResult(abi.StatusInternal, []byte("predict returned neither a response nor an error"))
		}
		b, err := abi.EncodePredictResponse(resp)
		if err != nil {
			return errorResult(fmt.Errorf("encode predict response: %w", err))
		}
		return abi.EncodeResult(abi.StatusOK, b)
	}
	return abi.EncodeResult(abi.StatusUnsupported, fmt.Appendf(nil, "unknown export %q", export))
}

// errorResult turns err into a result buffer: an *abi.Error anywhere in the
// chain keeps its status (and the full text of err as message when err wraps
// it), anything else is INTERNAL.
func errorResult(err error) []byte {
	var ae *abi.Error
	if errors.As(err, &ae) && ae.Status != abi.StatusOK {
		msg := ae.Message
		if err != error(ae) {
			// Keep the context added by wrapping, without the status prefix
			// that (*abi.Error).Error adds.
			msg = strings.Replace(err.Error(), ae.Error(), ae.Message, 1)
		}
		return abi.EncodeResult(ae.Status, []byte(msg))
	}
	return abi.EncodeResult(abi.StatusInternal, []byte(err.Error()))
}
