package engine

import "github.com/tetratelabs/wazero/experimental"

// linearMemory backs one instance's wasm memory. Where the platform allows
// (see linearmem_linux.go), the whole maximum is reserved once as address
// space outside the Go heap and pages become resident only when the guest
// touches them: growing never copies (wazero's default appends to a Go
// slice, so a guest growing to the cap left several copies of its memory
// as garbage, and the process peaked at several times the cap), and
// closing the instance returns the memory to the system at once rather
// than whenever the Go scavenger gets to it.
//
// wazero calls Free when it closes the module, which may happen while a
// call still runs on it (Engine.Close closes the runtime); the mapping is
// therefore released by release, which the instance calls once its module
// is closed and no call runs on it. Free does nothing.
type linearMemory interface {
	experimental.LinearMemory
	release()
}

// memoryAllocator hands out linear memories and remembers the last, so
// that instantiate can release it.
type memoryAllocator struct {
	mem linearMemory
}

// Allocate implements experimental.MemoryAllocator.
func (a *memoryAllocator) Allocate(capBytes, maxBytes uint64) experimental.LinearMemory {
	a.mem = newLinearMemory(capBytes, maxBytes)
	return a.mem
}

// heapMemory is wazero's default behaviour, for platforms without mmap or
// a memory that cannot be mapped: a Go slice grown by appending.
type heapMemory struct{ buf []byte }

func (m *heapMemory) Reallocate(size uint64) []byte {
	if n := uint64(len(m.buf)); size > n {
		m.buf = append(m.buf, make([]byte, size-n)...)
	}
	return m.buf[:size]
}

func (m *heapMemory) Free()    {}
func (m *heapMemory) release() { m.buf = nil }
