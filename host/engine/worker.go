package engine

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
)

// workerEnv is the environment variable that turns a process of any binary
// linking this package into a worker (see the init function in
// workermain.go).
const workerEnv = "PPA_ENGINE_WORKER"

// workerStderrBytes is how much of a worker's own stderr (the Go
// runtime's crash report, not the guest's output) is kept.
const workerStderrBytes = 8 << 10

// crashWait bounds the wait for a worker whose pipe closed to be reaped,
// so that its exit status can be reported.
const crashWait = 2 * time.Second

// worker is a worker process running one instance of a module at a time:
// the slot of a RunSandboxedProcess pool.
type worker struct {
	s        *shared
	cmd      *exec.Cmd
	req      *os.File // host → worker frames
	resp     *os.File // worker → host frames
	stderr   *capturedOutput
	exited   chan struct{} // closed once reaped; waitErr is then set
	waitErr  error
	version  uint32
	maxFrame int
	once     sync.Once
}

var _ slot = (*worker)(nil)

// spawn is the pool's newFn in RunSandboxedProcess: a worker ready to
// run calls, counted as one instantiation.
func (s *shared) spawn(ctx context.Context) (slot, error) {
	w, err := s.startWorker(ctx, false)
	if err != nil {
		return nil, err
	}
	if w.version != s.version {
		w.close()
		return nil, fmt.Errorf("plugin %s: worker reports ABI version %s, the module reported %s at load",
			s.label, abi.VersionString(w.version), abi.VersionString(s.version))
	}
	return w, nil
}

// startWorker starts a worker process, sends it the module and waits for
// it to compile (or load from the cache), check and instantiate it. For
// the first worker of a load (first), compiling is bounded by ctx alone
// and instantiating by the call timeout too, as in-process loading; later
// workers count wholly against the call that needed them.
func (s *shared) startWorker(ctx context.Context, first bool) (*worker, error) {
	s.stats.instantiations.Add(1)
	cfg := s.e.cfg
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("worker pipes: %w", err)
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		reqR.Close()
		reqW.Close()
		return nil, fmt.Errorf("worker pipes: %w", err)
	}
	w := &worker{
		s: s, req: reqW, resp: respR, stderr: newCapturedOutput(workerStderrBytes), exited: make(chan struct{}),
		// A result, the captured output twice (wire error) and slack.
		maxFrame: cfg.maxResultBytes + 2*cfg.maxOutputBytes + 64<<10,
	}
	w.cmd = &exec.Cmd{
		Path: workerExe,
		Args: []string{"ppa-plugin-worker", s.label},
		// Nothing of the host's environment: the variable that makes the
		// binary a worker, and two scheduler threads (the guest holds
		// one while it runs; the other serves signals and the collector).
		Env:         []string{workerEnv + "=1", "GOMAXPROCS=2"},
		Dir:         "/",
		ExtraFiles:  []*os.File{reqR, respW}, // fd 3 and 4
		Stdout:      w.stderr,
		Stderr:      w.stderr,
		SysProcAttr: workerSysProcAttr(),
	}
	err = startLocked(w.cmd)
	reqR.Close()
	respW.Close()
	if err != nil {
		reqW.Close()
		respR.Close()
		return nil, fmt.Errorf("start worker process: %w", err)
	}
	go func() {
		w.waitErr = w.cmd.Wait()
		close(w.exited)
	}()

	init := workerInit{
		Digest: s.digest, CacheDir: s.e.workerCache, MemoryLimitPages: cfg.memoryLimitPages,
		MaxOutputBytes: cfg.maxOutputBytes, MaxResultBytes: cfg.maxResultBytes,
		CallSeconds: uint64(cfg.callTimeout/time.Second) + 2,
	}
	if cfg.workerOverhead > 0 {
		init.AddressSpace = uint64(cfg.memoryLimitPages)*65536 + cfg.workerOverhead
	}
	head, wasm, err := encodeInit(init, s.wasm)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("worker init: %w", err)
	}
	fail := func(err error) (*worker, error) {
		w.close()
		return nil, err
	}
	if err := w.send(ctx, "instantiate", frameInit, head, wasm); err != nil {
		return fail(err)
	}
	kind, body, err := w.receive(ctx, "instantiate")
	if err != nil {
		return fail(err)
	}
	if kind != frameCompiled {
		return fail(w.unexpected("instantiate", kind, body))
	}
	if first {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.callTimeout, errCallTimeout)
		defer cancel()
	}
	kind, body, err = w.receive(ctx, "instantiate")
	if err != nil {
		return fail(err)
	}
	if kind != frameReady || len(body) != 4 {
		return fail(w.unexpected("instantiate", kind, body))
	}
	w.version = binary.LittleEndian.Uint32(body)
	return w, nil
}

// abiVersion implements slot: the worker called ppa_abi_version when it
// instantiated the module.
func (w *worker) abiVersion(context.Context) (uint32, error) { return w.version, nil }

// exchange implements slot. The worker keeps running after a failure
// inside the guest (it discards that instance and makes a fresh one for
// the next call); it is gone when it was killed (the call's time ran out)
// or died.
func (w *worker) exchange(ctx context.Context, export string, in []byte) ([]byte, string, *CallError, bool) {
	code := slices.Index(methodCodes, export)
	if code < 0 {
		return nil, "", &CallError{Plugin: w.s.label, Method: export, Failure: FailureProtocol, Detail: "not an ABI call"}, false
	}
	if err := w.send(ctx, export, frameCall, []byte{byte(code)}, in); err != nil {
		return nil, "", w.asCallError(export, err), true
	}
	kind, body, err := w.receive(ctx, export)
	if err != nil {
		return nil, "", w.asCallError(export, err), true
	}
	if len(body) < 1 {
		return nil, "", w.asCallError(export, w.unexpected(export, kind, body)), true
	}
	if body[0]&flagInstantiated != 0 {
		w.s.stats.instantiations.Add(1)
	}
	switch kind {
	case frameResult:
		if len(body) < 5 {
			break
		}
		n := binary.LittleEndian.Uint32(body[1:])
		if uint64(n) > uint64(len(body)-5) {
			break
		}
		return body[5+n:], string(body[5 : 5+n]), nil, false
	case frameFailure:
		var we wireError
		if err := json.Unmarshal(body[1:], &we); err != nil {
			break
		}
		ce := we.callError()
		ce.Plugin = w.s.label
		return nil, ce.Output, ce, false
	case frameLoadError:
		// A fresh instance could not be made (for example its memory
		// minimum exceeds the limit): not a guest failure.
		return nil, "", &CallError{Plugin: w.s.label, Method: "instantiate", Failure: FailureTrap,
			Detail: "the worker could not make a fresh instance", Err: errors.New(string(body[1:]))}, false
	}
	return nil, "", w.asCallError(export, w.unexpected(export, kind, body)), true
}

// asCallError makes err a *CallError (it usually is one).
func (w *worker) asCallError(method string, err error) *CallError {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce
	}
	return &CallError{Plugin: w.s.label, Method: method, Failure: FailureProtocol, Detail: "worker process", Err: err}
}

// send writes one frame, killing the worker if ctx ends first.
func (w *worker) send(ctx context.Context, method string, kind byte, parts ...[]byte) error {
	stop := context.AfterFunc(ctx, w.kill)
	err := writeFrame(w.req, kind, parts...)
	stop()
	if err != nil {
		return w.lost(ctx, method, err)
	}
	return nil
}

// receive reads one frame, killing the worker if ctx ends first. A load
// error the worker reports comes back as an error.
func (w *worker) receive(ctx context.Context, method string) (byte, []byte, error) {
	stop := context.AfterFunc(ctx, w.kill)
	kind, body, err := readFrame(w.resp, w.maxFrame)
	stop()
	if err != nil {
		return 0, nil, w.lost(ctx, method, err)
	}
	switch kind {
	case frameLoadError:
		if method == "instantiate" {
			return 0, nil, errors.New(string(body))
		}
	case frameFailure:
		if method == "instantiate" {
			var we wireError
			if err := json.Unmarshal(body[1:], &we); err != nil {
				return 0, nil, w.unexpected(method, kind, body)
			}
			ce := we.callError()
			ce.Plugin = w.s.label
			return 0, nil, ce
		}
	}
	return kind, body, nil
}

// lost explains a broken pipe: the call's context ended (and the worker
// was killed), or the worker died by itself.
func (w *worker) lost(ctx context.Context, method string, err error) error {
	ce := &CallError{Plugin: w.s.label, Method: method}
	if ctx.Err() != nil {
		w.s.contextFailure(ctx, ce)
		return ce
	}
	select {
	case <-w.exited:
	case <-time.After(crashWait):
		w.kill()
		<-w.exited
	}
	ce.Failure = FailureCrash
	ce.Detail = fmt.Sprintf("worker process died (%v)", w.waitErr)
	ce.Err = err
	ce.Output = w.stderr.take()
	return ce
}

// unexpected reports a frame the protocol does not allow here.
func (w *worker) unexpected(method string, kind byte, body []byte) error {
	w.kill()
	return &CallError{Plugin: w.s.label, Method: method, Failure: FailureProtocol,
		Detail: fmt.Sprintf("worker process sent an unexpected frame (kind %d, %d bytes)", kind, len(body))}
}

// kill ends the worker process at once and unblocks a read of its pipe.
func (w *worker) kill() {
	_ = w.cmd.Process.Kill()
	_ = w.resp.SetReadDeadline(time.Now())
	_ = w.req.SetWriteDeadline(time.Now())
}

// close implements slot: the worker is killed (it holds nothing worth
// keeping) and reaped in the background.
func (w *worker) close() {
	w.once.Do(func() {
		w.kill()
		go func() {
			<-w.exited
			w.req.Close()
			w.resp.Close()
		}()
	})
}

// spawnJobs carries worker starts to the goroutine that runs them on its
// locked thread (see startLocked).
var (
	spawnOnce sync.Once
	spawnJobs chan spawnJob
)

type spawnJob struct {
	cmd  *exec.Cmd
	done chan error
}

// startLocked starts cmd from a goroutine locked to a thread that never
// ends: Pdeathsig fires when the thread that forked a worker exits, and
// the Go runtime may end the threads of other goroutines.
func startLocked(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnJobs = make(chan spawnJob)
		go func() {
			lockThread()
			for j := range spawnJobs {
				j.done <- j.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnJobs <- spawnJob{cmd, done}
	return <-done
}
