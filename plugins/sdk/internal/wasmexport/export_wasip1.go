//go:build wasip1

package wasmexport

import (
	"runtime"
	"runtime/metrics"
	"unsafe"

	"github.com/ppa-autoscaler/ppa/abi"
)

// pinned keeps every buffer handed to the host reachable, keyed by its
// address in linear memory, until the host passes it to ppa_free. The Go
// garbage collector does not move objects, so an address stays valid as
// long as the slice is referenced from here.
var pinned = map[uint32][]byte{}

// pin records b and returns its address. b must have a capacity of at least
// one byte so that the address is distinct.
func pin(b []byte) uint32 {
	ptr := uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b[:1]))))
	pinned[ptr] = b
	return ptr
}

//go:wasmexport ppa_abi_version
func ppaABIVersion() int32 { return int32(abi.Version) }

//go:wasmexport ppa_alloc
func ppaAlloc(size int32) int32 {
	if size < 0 || size > abi.MaxMessageSize {
		return 0
	}
	return int32(pin(make([]byte, size, max(size, 1))))
}

//go:wasmexport ppa_free
func ppaFree(ptr, size int32) {
	delete(pinned, uint32(ptr))
}

//go:wasmexport ppa_describe
func ppaDescribe() int64 {
	return result(serve(abi.ExportDescribe, nil))
}

//go:wasmexport ppa_train
func ppaTrain(ptr, size int32) int64 {
	return call(abi.ExportTrain, ptr, size)
}

//go:wasmexport ppa_predict
func ppaPredict(ptr, size int32) int64 {
	return call(abi.ExportPredict, ptr, size)
}

// call serves ppa_train and ppa_predict: the request must lie inside a
// buffer that ppa_alloc returned.
func call(export string, ptr, size int32) int64 {
	buf, ok := pinned[uint32(ptr)]
	if !ok {
		return result(abi.EncodeResult(abi.StatusInvalidArgument, []byte(export+": request pointer was not returned by ppa_alloc")))
	}
	if size < 0 || int(size) > len(buf) {
		return result(abi.EncodeResult(abi.StatusInvalidArgument, []byte(export+": request length exceeds its ppa_alloc buffer")))
	}
	packed := result(serve(export, buf[:size]))
	collectIfDue()
	return packed
}

// gcSamples are read after every call; see collectIfDue.
var gcSamples = []metrics.Sample{
	{Name: "/gc/heap/goal:bytes"},
	{Name: "/memory/classes/heap/objects:bytes"},
}

// collectIfDue runs a garbage collection when the heap has grown past the
// collector's goal.
//
// In a wasip1 reactor, Go's background mark workers are goroutines that
// only run while an export is executing and the exporting goroutine yields,
// which a compute-bound train or predict rarely does. A cycle that an
// allocation starts may then never finish, and every call's buffers pile
// up until the instance hits its memory limit. runtime.GC completes the
// cycle synchronously; doing it only when the goal is passed keeps its cost
// in proportion to what was allocated.
func collectIfDue() {
	metrics.Read(gcSamples)
	goal, live := gcSamples[0].Value, gcSamples[1].Value
	if goal.Kind() == metrics.KindUint64 && live.Kind() == metrics.KindUint64 && live.Uint64() >= goal.Uint64() {
		runtime.GC()
	}
}

// result pins a result buffer and packs its address and length.
func result(b []byte) int64 {
	return int64(abi.PackResult(pin(b), uint32(len(b))))
}
