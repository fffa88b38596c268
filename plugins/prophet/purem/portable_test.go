//go:build 386 || wasm

package purem

import "testing"

// TestBitIdenticalToPortableMath runs where package math uses its portable
// Go code (386, wasm): there Exp and Log must agree bit for bit.
func TestBitIdenticalToPortableMath(t *testing.T) {
	checkAgainstMath(t, 0)
}
