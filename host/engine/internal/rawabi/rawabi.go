// Package rawabi helps test guests that implement the ABI exports by hand
// (without plugins/sdk) so that they can break it on purpose: it keeps
// buffers alive for the host and builds result values.
package rawabi

import (
	"encoding/json"
	"unsafe"

	"github.com/ppa-autoscaler/ppa/abi"
)

var pinned = map[uint32][]byte{}

// Pin keeps b (capacity at least 1) reachable and returns its address in
// linear memory.
func Pin(b []byte) uint32 {
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b[:1]))))
	pinned[ptr] = b
	return ptr
}

// Alloc implements ppa_alloc.
func Alloc(size int32) int32 {
	if size < 0 {
		return 0
	}
	return int32(Pin(make([]byte, size, max(size, 1))))
}

// Free implements ppa_free.
func Free(ptr int32) { delete(pinned, uint32(ptr)) }

// Result pins an encoded result buffer and packs it.
func Result(b []byte) int64 { return int64(abi.PackResult(Pin(b), uint32(len(b)))) }

// Describe returns the packed result of a valid description named name.
func Describe(name string) int64 {
	b, err := json.Marshal(abi.Description{Name: name, Version: "0.0.1"})
	if err != nil {
		return Result(abi.EncodeResult(abi.StatusInternal, []byte(err.Error())))
	}
	return Result(abi.EncodeResult(abi.StatusOK, b))
}

// Request returns the bytes of a request buffer that Alloc returned.
func Request(ptr, size int32) []byte {
	b := pinned[uint32(ptr)]
	if int(size) > len(b) || size < 0 {
		return nil
	}
	return b[:size]
}
