package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/ppa-autoscaler/ppa/abi"
)

// init turns the process into a plugin worker when workerEnv is set: the
// host re-executes its own binary (see startWorker), so every program and
// test binary linking this package can serve as a worker without help
// from its main or TestMain. The worker never returns to main.
func init() {
	if os.Getenv(workerEnv) != "1" {
		return
	}
	os.Exit(runWorker(os.NewFile(3, "requests"), os.NewFile(4, "responses")))
}

// maxInitFrame bounds the init frame: the configuration and a module.
const maxInitFrame = abi.MaxMessageSize

// runWorker is a worker process's life: read the module, compile and check
// it, lock the process down, instantiate, then run calls until the host
// closes the pipe or kills it. It returns the exit code.
func runWorker(req io.Reader, resp io.Writer) int {
	fatal := func(format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "ppa plugin worker: "+format+"\n", args...)
		return 70
	}
	loadError := func(err error) int {
		if werr := writeFrame(resp, frameLoadError, []byte(err.Error())); werr != nil {
			return fatal("%v", werr)
		}
		return 0
	}
	// RLIMIT_CPU's signal ends the worker; the host sees a crash.
	xcpu := make(chan os.Signal, 1)
	signal.Notify(xcpu, cpuLimitSignal)
	go func() {
		<-xcpu
		fmt.Fprintln(os.Stderr, "ppa plugin worker: CPU time limit of the call exceeded")
		os.Exit(71)
	}()

	kind, body, err := readFrame(req, maxInitFrame)
	if err != nil || kind != frameInit {
		return fatal("no init frame: kind %d, %v", kind, err)
	}
	cfg, wasm, err := decodeInit(body)
	if err != nil {
		return fatal("%v", err)
	}
	if d := Digest(wasm); d != cfg.Digest {
		return fatal("module has sha256 %s, the host announced %s", d, cfg.Digest)
	}
	if err := limitWorker(cfg); err != nil {
		return fatal("limits: %v", err)
	}
	ctx := context.Background()
	e := &Engine{cfg: Config{
		memoryLimitPages: cfg.MemoryLimitPages, maxOutputBytes: cfg.MaxOutputBytes, maxResultBytes: cfg.MaxResultBytes,
		callTimeout: time.Duration(cfg.CallSeconds) * time.Second, now: time.Now, uninterruptible: true,
	}, log: slog.New(slog.DiscardHandler)}
	// Compiled without termination checks: the host's kill stops a
	// runaway call.
	rc := wazero.NewRuntimeConfig().WithMemoryLimitPages(cfg.MemoryLimitPages).WithCloseOnContextDone(false)
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return loadError(fmt.Errorf("compilation cache %s: %w", cfg.CacheDir, err))
		}
		rc = rc.WithCompilationCache(cache)
	}
	if e.rt, err = newRuntime(ctx, rc); err != nil {
		return loadError(err)
	}
	s := &shared{e: e, rt: e.rt, mode: RunSandboxedProcess, digest: cfg.Digest, label: "sha256:" + cfg.Digest[:12]}
	compiled, err := s.rt.CompileModule(ctx, wasm)
	if err != nil {
		return loadError(fmt.Errorf("compile: %w", err))
	}
	if err := checkModule(compiled); err != nil {
		return loadError(err)
	}
	s.compiled = compiled
	wasm, body = nil, nil
	if err := lockDown(); err != nil {
		return fatal("lock down: %v", err)
	}
	if err := writeFrame(resp, frameCompiled); err != nil {
		return fatal("%v", err)
	}

	inst, err := s.instantiate(ctx)
	if err != nil {
		return failInit(resp, err)
	}
	v, err := inst.abiVersion(ctx)
	if err != nil {
		return failInit(resp, err)
	}
	if err := writeFrame(resp, frameReady, binary.LittleEndian.AppendUint32(nil, v)); err != nil {
		return fatal("%v", err)
	}

	for {
		kind, body, err := readFrame(req, abi.MaxMessageSize+1)
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil || kind != frameCall || len(body) < 1 || int(body[0]) >= len(methodCodes) {
			return fatal("bad call frame: kind %d, %d bytes, %v", kind, len(body), err)
		}
		export, in := methodCodes[body[0]], body[1:]
		var flags byte
		if inst == nil {
			flags |= flagInstantiated
			if inst, err = s.instantiate(ctx); err != nil {
				inst = nil
				if werr := sendFailure(resp, flags, err); werr != nil {
					return fatal("%v", werr)
				}
				continue
			}
		}
		if err := setCallCPU(cfg.CallSeconds); err != nil {
			return fatal("%v", err)
		}
		out, output, ce, _ := inst.exchange(ctx, export, in)
		if ce != nil {
			inst.close()
			inst = nil
			if err := sendFailure(resp, flags, ce); err != nil {
				return fatal("%v", err)
			}
			continue
		}
		head := []byte{flags, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(head[1:], uint32(len(output)))
		if err := writeFrame(resp, frameResult, head, []byte(output), out); err != nil {
			return fatal("%v", err)
		}
	}
}

// sendFailure reports a failed call: a *CallError as such, any other error
// (a fresh instance that could not be made) as a load error.
func sendFailure(resp io.Writer, flags byte, err error) error {
	var ce *CallError
	if !errors.As(err, &ce) {
		return writeFrame(resp, frameLoadError, []byte{flags}, []byte(err.Error()))
	}
	j, jerr := json.Marshal(toWire(ce))
	if jerr != nil {
		return jerr
	}
	return writeFrame(resp, frameFailure, []byte{flags}, j)
}

// failInit reports the failure of the first instance and ends the worker.
func failInit(resp io.Writer, err error) int {
	var werr error
	var ce *CallError
	if errors.As(err, &ce) {
		j, _ := json.Marshal(toWire(ce))
		werr = writeFrame(resp, frameFailure, []byte{0}, j)
	} else {
		werr = writeFrame(resp, frameLoadError, []byte(err.Error()))
	}
	if werr != nil {
		fmt.Fprintf(os.Stderr, "ppa plugin worker: %v\n", werr)
		return 70
	}
	return 0
}
