package engine

import (
	"sync"
	"syscall"
)

// mappedMemory is a linear memory in an anonymous private mapping of its
// maximum size, reserved without swap (MAP_NORESERVE): the kernel makes a
// page resident on first touch, zeroed as wasm requires.
type mappedMemory struct {
	buf  []byte
	once sync.Once
}

func newLinearMemory(capBytes, maxBytes uint64) linearMemory {
	if maxBytes == 0 || maxBytes > 1<<32 {
		return &heapMemory{buf: make([]byte, 0, capBytes)}
	}
	buf, err := syscall.Mmap(-1, 0, int(maxBytes), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		// Address space exhausted (a ulimit -v, say): fall back to the heap.
		return &heapMemory{buf: make([]byte, 0, capBytes)}
	}
	return &mappedMemory{buf: buf}
}

// Reallocate implements experimental.LinearMemory: the mapping never moves;
// nil when size is beyond the maximum.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	return m.buf[:size]
}

// Free implements experimental.LinearMemory; see linearMemory.
func (m *mappedMemory) Free() {}

func (m *mappedMemory) release() {
	m.once.Do(func() {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	})
}
