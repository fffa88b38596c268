//go:build !linux

package engine

func newLinearMemory(capBytes, _ uint64) linearMemory {
	return &heapMemory{buf: make([]byte, 0, capBytes)}
}
