package engine

import (
	"fmt"
	"sync"
)

// capturedOutput is an io.Writer that keeps the beginning and the end of
// what is written, up to max bytes in all, and counts what it drops in
// between. The guest's stdout and stderr share one, so that their
// interleaving is kept. Both ends matter: a crash report starts with its
// cause ("panic: ...", "fatal error: out of memory") and ends with what
// the plugin did last.
type capturedOutput struct {
	mu      sync.Mutex
	headMax int
	tailMax int
	head    []byte
	ring    []byte // the tail; once full, start marks its oldest byte
	start   int
	dropped int64
}

func newCapturedOutput(max int) *capturedOutput {
	return &capturedOutput{headMax: max / 4, tailMax: max - max/4}
}

// Write implements io.Writer; it never fails.
func (b *capturedOutput) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if room := b.headMax - len(b.head); room > 0 {
		k := min(room, len(p))
		b.head = append(b.head, p[:k]...)
		p = p[k:]
	}
	if b.tailMax == 0 {
		b.dropped += int64(len(p))
		return n, nil
	}
	if len(p) > b.tailMax {
		b.dropped += int64(len(p) - b.tailMax)
		p = p[len(p)-b.tailMax:]
	}
	if room := b.tailMax - len(b.ring); room > 0 {
		k := min(room, len(p))
		b.ring = append(b.ring, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		k := copy(b.ring[b.start:], p)
		b.dropped += int64(k)
		p = p[k:]
		b.start = (b.start + k) % b.tailMax
	}
	return n, nil
}

// take returns the captured text, with a note where output was dropped,
// and empties the buffer.
func (b *capturedOutput) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := clip(string(b.head), string(b.ring[b.start:])+string(b.ring[:b.start]), b.dropped)
	b.head, b.ring, b.start, b.dropped = b.head[:0], b.ring[:0], 0, 0
	return s
}

// clip joins the head and tail of a text of which dropped bytes in the
// middle are missing.
func clip(head, tail string, dropped int64) string {
	if dropped == 0 {
		return head + tail
	}
	return fmt.Sprintf("%s\n[... %d bytes dropped ...]\n%s", head, dropped, tail)
}

// shorten keeps the first and last max/2 bytes of s.
func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	h := max / 2
	return clip(s[:h], s[len(s)-(max-h):], int64(len(s)-max))
}
