// Package wasmexport holds the WebAssembly exports of a Go plugin module:
// ppa_abi_version, ppa_alloc, ppa_free, ppa_describe, ppa_train and
// ppa_predict (abi/SPEC.md), with the guest's side of the memory protocol
// (buffers stay pinned until the host frees them). It is compiled into
// every plugin that imports package sdk; the exports exist only when
// building for GOOS=wasip1.
//
// Package sdk installs the handler the call exports serve (SetHandler);
// nothing here is API for plugin authors.
package wasmexport

// Handler runs one ABI call natively: export is abi.ExportDescribe,
// abi.ExportTrain or abi.ExportPredict, request the encoded request (nil for
// describe); it returns the result buffer (status and payload).
type Handler func(export string, request []byte) []byte

// handler serves ppa_describe, ppa_train and ppa_predict.
var handler Handler

// SetHandler makes h the function the call exports serve. Package sdk calls
// it once, from its init function.
func SetHandler(h Handler) { handler = h }

// serve runs the installed handler.
func serve(export string, request []byte) []byte { return handler(export, request) }
