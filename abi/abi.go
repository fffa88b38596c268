// Package abi is the contract between the PPA host and forecaster plugins:
// the names of the functions a plugin exports, the version marker, status
// codes, the self-description a plugin returns and the wire encoding of
// requests and results.
//
// The normative text is SPEC.md beside this file; this package is its Go
// rendering, shared by the host (host/engine, host/conformance) and the Go
// plugin SDK (plugins/sdk). It is a Go module of its own,
// github.com/ppa-autoscaler/ppa/abi, versioned with the ABI and with no
// dependencies beyond the standard library: it compiles for GOOS=wasip1,
// and a plugin's go.mod that requires it pulls in nothing of the host.
package abi

import (
	"fmt"
	"slices"
	"strings"
)

// The ABI version implemented by this package. See SPEC.md "Versioning".
const (
	// VersionMajor changes on a breaking change; the host refuses a plugin
	// whose major version differs from its own.
	VersionMajor = 1
	// VersionMinor changes when a function is added.
	VersionMinor = 0
	// VersionPatch changes when a status value or description field is added.
	VersionPatch = 0
)

// Names of the functions a plugin module exports.
const (
	// ExportABIVersion is `ppa_abi_version() -> i32`: the packed ABI version
	// (see PackVersion). The host calls it before anything else.
	ExportABIVersion = "ppa_abi_version"
	// ExportAlloc is `ppa_alloc(size i32) -> i32`: a pointer to size bytes of
	// guest memory owned by the caller until passed to ppa_free, or 0.
	ExportAlloc = "ppa_alloc"
	// ExportFree is `ppa_free(ptr i32, size i32)`: releases a buffer that
	// ppa_alloc returned, or that a call returned as its result.
	ExportFree = "ppa_free"
	// ExportDescribe is `ppa_describe() -> i64`: a packed result (see
	// PackResult) whose payload is the JSON Description.
	ExportDescribe = "ppa_describe"
	// ExportTrain is `ppa_train(ptr i32, len i32) -> i64`: takes an encoded
	// TrainRequest, returns a packed result with an encoded TrainResponse.
	ExportTrain = "ppa_train"
	// ExportPredict is `ppa_predict(ptr i32, len i32) -> i64`: takes an
	// encoded PredictRequest, returns a packed result with an encoded
	// PredictResponse.
	ExportPredict = "ppa_predict"
	// ExportInitialize is the optional WASI reactor initialiser; the host
	// calls it once after instantiation when it is exported.
	ExportInitialize = "_initialize"
)

// ValueType is a WebAssembly value type, by its byte in the binary format
// (which is also wazero's api.ValueType).
type ValueType byte

// The value types of the ABI's functions.
const (
	I32 ValueType = 0x7f
	I64 ValueType = 0x7e
)

// String returns the type's name in the text format: "i32", "i64".
func (t ValueType) String() string {
	switch t {
	case I32:
		return "i32"
	case I64:
		return "i64"
	case 0x7d:
		return "f32"
	case 0x7c:
		return "f64"
	}
	return fmt.Sprintf("type%#x", byte(t))
}

// Signature is a function type: parameter and result value types.
type Signature struct {
	Params, Results []ValueType
}

// Equal reports whether s and o are the same function type.
func (s Signature) Equal(o Signature) bool {
	return slices.Equal(s.Params, o.Params) && slices.Equal(s.Results, o.Results)
}

// String renders the signature as SPEC.md writes it: "(i32, i32) -> i64",
// "() -> ()".
func (s Signature) String() string {
	names := func(ts []ValueType) string {
		out := make([]string, len(ts))
		for i, t := range ts {
			out[i] = t.String()
		}
		return strings.Join(out, ", ")
	}
	r := "(" + names(s.Params) + ") -> "
	if len(s.Results) == 1 {
		return r + names(s.Results)
	}
	return r + "(" + names(s.Results) + ")"
}

// Export is one function of the ABI's export table.
type Export struct {
	Name      string
	Signature Signature
	// Required: every conforming plugin exports it; an optional export,
	// when present, must have its signature.
	Required bool
}

// Exports is the ABI's export table, as SPEC.md lists it, in the order the
// host checks it. The engine, the conformance suite and the SDK all read
// it from here.
var Exports = []Export{
	{ExportABIVersion, Signature{nil, []ValueType{I32}}, true},
	{ExportAlloc, Signature{[]ValueType{I32}, []ValueType{I32}}, true},
	{ExportFree, Signature{[]ValueType{I32, I32}, nil}, true},
	{ExportDescribe, Signature{nil, []ValueType{I64}}, true},
	{ExportTrain, Signature{[]ValueType{I32, I32}, []ValueType{I64}}, true},
	{ExportPredict, Signature{[]ValueType{I32, I32}, []ValueType{I64}}, true},
	{ExportInitialize, Signature{}, false},
}

// ExportMemory is the name under which a plugin exports its linear memory.
const ExportMemory = "memory"

// Import modules a plugin may import functions from.
const (
	// ImportWASI is WASI preview 1; every function of it may be imported
	// (the host grants none of its capabilities).
	ImportWASI = "wasi_snapshot_preview1"
	// ImportEnv is the module of ImportAbort.
	ImportEnv = "env"
	// ImportAbort is env.abort, which AssemblyScript modules import.
	ImportAbort = "abort"
)

// ImportsDescription says in words which imports ImportAllowed allows.
const ImportsDescription = ImportWASI + " and " + ImportEnv + "." + ImportAbort

// ImportAllowed reports whether a plugin may import the function
// module.name.
func ImportAllowed(module, name string) bool {
	return module == ImportWASI || module == ImportEnv && name == ImportAbort
}

// RequiredExports lists every function a conforming plugin must export.
var RequiredExports = func() []string {
	var names []string
	for _, e := range Exports {
		if e.Required {
			names = append(names, e.Name)
		}
	}
	return names
}()

// PackVersion packs a semantic version into the i32 that ppa_abi_version
// returns: major<<16 | minor<<8 | patch.
func PackVersion(major, minor, patch uint32) uint32 {
	return major<<16 | (minor&0xff)<<8 | patch&0xff
}

// UnpackVersion is the inverse of PackVersion.
func UnpackVersion(v uint32) (major, minor, patch uint32) {
	return v >> 16, (v >> 8) & 0xff, v & 0xff
}

// Version is the packed version of this package.
var Version = PackVersion(VersionMajor, VersionMinor, VersionPatch)

// VersionString renders a packed version as "major.minor.patch".
func VersionString(v uint32) string {
	major, minor, patch := UnpackVersion(v)
	return fmt.Sprintf("%d.%d.%d", major, minor, patch)
}

// CheckVersion reports whether a plugin's packed ABI version can be served
// by this host: the major versions must be equal and the plugin's minor
// version must not be newer than the host's.
func CheckVersion(plugin uint32) error {
	major, minor, _ := UnpackVersion(plugin)
	if major != VersionMajor {
		return fmt.Errorf("plugin ABI version %s is not supported: this host speaks ABI %d.x", VersionString(plugin), VersionMajor)
	}
	if minor > VersionMinor {
		return fmt.Errorf("plugin ABI version %s is newer than this host's %s: upgrade the host", VersionString(plugin), VersionString(Version))
	}
	return nil
}

// PackResult packs a guest pointer and length into the i64 that ppa_describe,
// ppa_train and ppa_predict return: ptr<<32 | len.
func PackResult(ptr, length uint32) uint64 {
	return uint64(ptr)<<32 | uint64(length)
}

// UnpackResult is the inverse of PackResult.
func UnpackResult(v uint64) (ptr, length uint32) {
	return uint32(v >> 32), uint32(v)
}

// Status is the first field of every result buffer. Non-zero values carry a
// UTF-8 error message as the payload.
type Status uint32

// Status values. See SPEC.md "Results and errors".
const (
	// StatusOK means the payload is the encoded response.
	StatusOK Status = 0
	// StatusInvalidArgument means a parameter or input value was wrong; the
	// message names it.
	StatusInvalidArgument Status = 1
	// StatusInsufficientData means the series is too short or too sparse.
	StatusInsufficientData Status = 2
	// StatusInvalidModel means the model bytes passed to predict could not
	// be read (corrupt, or from another plugin or version).
	StatusInvalidModel Status = 3
	// StatusUnsupported means the request asks for something the plugin does
	// not do (for example a column it does not understand).
	StatusUnsupported Status = 4
	// StatusInternal is any other failure inside the plugin.
	StatusInternal Status = 5
)

// String returns the status name as written in SPEC.md.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusInvalidArgument:
		return "INVALID_ARGUMENT"
	case StatusInsufficientData:
		return "INSUFFICIENT_DATA"
	case StatusInvalidModel:
		return "INVALID_MODEL"
	case StatusUnsupported:
		return "UNSUPPORTED"
	case StatusInternal:
		return "INTERNAL"
	}
	return fmt.Sprintf("STATUS_%d", uint32(s))
}

// Error is an error with an ABI status. Plugins return it (the SDK turns it
// into a result buffer) and the host returns it to callers when a plugin
// reports a non-OK status.
type Error struct {
	Status  Status
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string { return e.Status.String() + ": " + e.Message }

// Errorf returns an *Error with the given status and formatted message.
func Errorf(status Status, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}
