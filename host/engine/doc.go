// Package engine runs forecaster plugins: WebAssembly modules speaking the
// PPA ABI (see package abi and abi/SPEC.md), on wazero.
//
//	e, err := engine.New(ctx, engine.NewConfig().WithCacheDir(dir))
//	defer e.Close(ctx)
//	p, err := e.Load(ctx, wasm, pinnedSHA256)
//	defer p.Close(ctx)
//	resp, err := p.Predict(ctx, &abi.PredictRequest{Model: model, Timestamps: ts})
//
// # Compile once, instantiate per call
//
// A module is compiled once per Engine (with Config.WithCacheDir, the
// machine code is also kept on disk for the next process). Each loaded
// module has a bounded pool of live instances: a call borrows an idle
// instance or creates one, runs, and gives it back. Instances are never
// shared by two calls at once; models are bytes passed with each call, so
// one pool serves every model of a plugin.
//
// # Sandbox
//
// Plugins are untrusted. An instance gets wasi_snapshot_preview1 with no
// filesystem, no environment variables, no arguments and no network;
// stdin is empty; stdout and stderr go to a capped buffer that is logged at
// debug level and quoted in errors. Clocks and random numbers are wazero's
// defaults: a fake clock that starts at a fixed time and a deterministic
// random stream, so a plugin sees no ambient time or entropy (randomness
// must come from the request's seed). The only other import provided is
// env.abort (AssemblyScript), which traps.
//
// Each instance's memory is capped (Config.WithMemoryLimitPages) and each
// call has a wall-time limit (Config.WithCallTimeout); the runtime is
// configured to stop a guest whose context ends, so an endless loop is
// really interrupted. A trap, proc_exit, timeout, or a result that breaks
// the ABI (a pointer outside memory, a result over
// Config.WithMaxResultBytes, bytes that do not decode) fails that call
// with a *CallError and the instance is discarded; other calls and later
// calls are unaffected. A status the plugin reports (INVALID_ARGUMENT and
// so on) is returned as an *abi.Error and the instance is kept.
package engine
