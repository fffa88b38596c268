// Package examples holds forecaster plugins written in languages other
// than Go, each implementing the plugin ABI (abi/SPEC.md) directly:
//
//   - c/: ses-c, simple exponential smoothing in freestanding C (no libc);
//   - assemblyscript/: moving-average-as, a moving average in
//     AssemblyScript with the stub runtime.
//
// Their sources and compiled .wasm files are committed, so that tests need
// no C or AssemblyScript toolchain; each folder's build.sh rebuilds its
// module. test/examples runs the conformance suite on the committed
// modules.
package examples
