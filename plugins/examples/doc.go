// Package examples holds example forecaster plugins:
//
//   - go/: drift-go, a random walk with drift written with the Go plugin
//     SDK, in a module of its own whose go.mod requires only the SDK and
//     ABI modules, github.com/ppa-autoscaler/ppa/plugins/sdk and
//     github.com/ppa-autoscaler/ppa/abi (the layout of a plugin author's
//     repository);
//   - c/: ses-c, simple exponential smoothing in freestanding C (no libc),
//     implementing the plugin ABI (abi/SPEC.md) directly;
//   - assemblyscript/: moving-average-as, a moving average in
//     AssemblyScript with the stub runtime, also without an SDK.
//
// The C and AssemblyScript sources and compiled .wasm files are committed,
// so that tests need no C or AssemblyScript toolchain; each folder's
// build.sh rebuilds its module. test/examples builds the Go example from a
// copy outside the repository and runs the conformance suite on all three.
package examples
