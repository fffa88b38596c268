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
// call has a wall-time limit (Config.WithCallTimeout), so an endless loop
// is really interrupted: by killing the worker process that runs it, or,
// in-process, by wazero's termination checks.
//
// # Worker processes
//
// Modules not trusted by digest (Config.WithTrustedDigests) run, with
// IsolationProcess (the default on Linux), in worker processes: this
// binary re-executed (the package's init function turns any process
// started with PPA_ENGINE_WORKER=1 into a worker, so every program and
// test binary linking the package can serve), one instance per worker,
// pooled per module like instances. A worker compiles the module without
// termination checks (from the shared compilation cache after the first),
// runs under RLIMIT_AS, a per-call RLIMIT_CPU, RLIMIT_NOFILE and
// RLIMIT_FSIZE limits and a seccomp allow-list (no files, sockets or
// processes), and dies with its host (Pdeathsig). Requests and results
// cross two pipes as the ABI's bytes. A call past its time limit kills
// the worker; a guest failure only replaces the worker's instance.
// Plugin.RunMode says how a module runs. A trap, proc_exit, timeout, or a result that breaks
// the ABI (a pointer outside memory, a result over
// Config.WithMaxResultBytes, bytes that do not decode) fails that call
// with a *CallError and the instance is discarded (a worker that dies by
// itself fails the call with FailureCrash); other calls and later
// calls are unaffected. A status the plugin reports (INVALID_ARGUMENT and
// so on) is returned as an *abi.Error and the instance is kept.
package engine
