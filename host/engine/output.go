package engine

import (
	"fmt"
	"sync"
)

// tailBuffer is an io.Writer that keeps the last max bytes written and
// counts the rest. The guest's stdout and stderr share one, so that their
// interleaving is kept.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	ring    []byte // len(ring) <= max; once full, start marks the oldest byte
	start   int
	dropped int64
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

// Write implements io.Writer; it never fails.
func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if b.max == 0 {
		b.dropped += int64(n)
		return n, nil
	}
	if len(p) > b.max {
		b.dropped += int64(len(p) - b.max)
		p = p[len(p)-b.max:]
	}
	// Fill the ring up to its capacity first.
	if room := b.max - len(b.ring); room > 0 {
		k := min(room, len(p))
		b.ring = append(b.ring, p[:k]...)
		p = p[k:]
	}
	// Then overwrite the oldest bytes.
	for len(p) > 0 {
		k := copy(b.ring[b.start:], p)
		b.dropped += int64(k)
		p = p[k:]
		b.start = (b.start + k) % b.max
	}
	return n, nil
}

// take returns the captured text, with a note when output was dropped, and
// empties the buffer.
func (b *tailBuffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ring) == 0 && b.dropped == 0 {
		return ""
	}
	s := string(b.ring[b.start:]) + string(b.ring[:b.start])
	if b.dropped > 0 {
		s = fmt.Sprintf("[%d earlier bytes dropped]\n", b.dropped) + s
	}
	b.ring, b.start, b.dropped = b.ring[:0], 0, 0
	return s
}
