package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/ppa-autoscaler/ppa/abi"
)

// instance is one live module instance with its exports resolved. It runs
// one call at a time; the pool hands it out.
type instance struct {
	s        *shared
	mod      api.Module
	mem      api.Memory
	alloc    api.Function
	free     api.Function
	describe api.Function
	train    api.Function
	predict  api.Function
	version  api.Function
	out      *capturedOutput
	stack    [2]uint64
	// linear backs mem; released after the module is closed.
	linear linearMemory
}

// instantiate creates an instance of p's module and runs its _initialize.
func (p *shared) instantiate(ctx context.Context) (*instance, error) {
	p.stats.instantiations.Add(1)
	out := newCapturedOutput(p.e.cfg.maxOutputBytes)
	// The module config grants nothing: no filesystem, arguments or
	// environment; wazero's default clocks and random source are fake and
	// deterministic; stdin reads EOF. Start functions are disabled so that
	// a _start is never run; _initialize is called below.
	mc := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(out).
		WithStderr(out)
	alloc := &memoryAllocator{}
	mod, err := p.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, alloc), p.compiled, mc)
	if err != nil {
		if alloc.mem != nil {
			alloc.mem.release()
		}
		if ctx.Err() != nil {
			return nil, p.failure(ctx, "instantiate", err, out.take(), nil)
		}
		// For example a module whose minimum memory exceeds the limit.
		return nil, fmt.Errorf("plugin %s: instantiate: %w", p.label, err)
	}
	inst := &instance{
		s:        p,
		mod:      mod,
		mem:      mod.Memory(),
		alloc:    mod.ExportedFunction(abi.ExportAlloc),
		free:     mod.ExportedFunction(abi.ExportFree),
		describe: mod.ExportedFunction(abi.ExportDescribe),
		train:    mod.ExportedFunction(abi.ExportTrain),
		predict:  mod.ExportedFunction(abi.ExportPredict),
		version:  mod.ExportedFunction(abi.ExportABIVersion),
		out:      out,
		linear:   alloc.mem,
	}
	if inst.mem == nil {
		inst.close()
		return nil, fmt.Errorf("plugin %s: module exports no memory", p.label)
	}
	if init := mod.ExportedFunction(abi.ExportInitialize); init != nil {
		if err := init.CallWithStack(ctx, inst.stack[:]); err != nil {
			ce := p.failure(ctx, abi.ExportInitialize, err, out.take(), inst)
			inst.close()
			return nil, ce
		}
	}
	if s := out.take(); s != "" {
		p.e.log.Debug("plugin output", "plugin", p.label, "method", abi.ExportInitialize, "output", s)
	}
	return inst, nil
}

// close closes the module and releases its memory; no call may be running
// on it.
func (i *instance) close() {
	_ = i.mod.Close(context.Background())
	if i.linear != nil {
		i.linear.release()
		i.linear = nil
	}
}

// abiVersion implements slot by calling ppa_abi_version.
func (i *instance) abiVersion(ctx context.Context) (uint32, error) {
	r, err := i.call(ctx, i.version)
	if err != nil {
		return 0, i.s.failure(ctx, abi.ExportABIVersion, err, i.out.take(), i)
	}
	return api.DecodeU32(r), nil
}

// exchange implements slot. Any failure makes the instance unusable.
func (i *instance) exchange(ctx context.Context, export string, in []byte) ([]byte, string, *CallError, bool) {
	out, ce := i.s.exchange(ctx, i, export, in)
	output := i.out.take()
	if ce != nil && ce.Output == "" {
		ce.Output = output
	}
	return out, output, ce, ce != nil
}

// call runs fn with params and returns its first result.
func (i *instance) call(ctx context.Context, fn api.Function, params ...uint64) (uint64, error) {
	copy(i.stack[:], params)
	if err := fn.CallWithStack(ctx, i.stack[:]); err != nil {
		return 0, err
	}
	return i.stack[0], nil
}

// failure turns an error from wazero into a *CallError. inst, when not nil,
// adds the size of its memory to the message.
func (p *shared) failure(ctx context.Context, method string, err error, output string, inst *instance) *CallError {
	ce := &CallError{Plugin: p.label, Method: method, Output: output}
	var exit *sys.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded,
		errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeContextCanceled,
		ctx.Err() != nil:
		p.contextFailure(ctx, ce)
	case errors.As(err, &exit):
		ce.Failure = FailureExit
		ce.ExitCode = exit.ExitCode()
		ce.Detail = fmt.Sprintf("plugin exited with code %d%s", exit.ExitCode(), inst.memoryNote(p.e.cfg.memoryLimitPages))
	default:
		ce.Failure = FailureTrap
		ce.Detail = "trap" + inst.memoryNote(p.e.cfg.memoryLimitPages)
		ce.Err = err
	}
	return ce
}

// contextFailure fills ce for a call stopped by its context: the call
// timeout (a deadline the caller did not set), the caller's deadline, or
// the caller's cancellation.
func (p *shared) contextFailure(ctx context.Context, ce *CallError) {
	err := context.Cause(ctx)
	if err == nil {
		err = ctx.Err()
	}
	switch {
	case errors.Is(err, errCallTimeout):
		ce.Failure = FailureTimeout
		ce.Detail = fmt.Sprintf("stopped after the %s call timeout", p.e.cfg.callTimeout)
		ce.Err = context.DeadlineExceeded
	case errors.Is(err, context.DeadlineExceeded):
		ce.Failure = FailureTimeout
		ce.Detail = "stopped at the caller's deadline"
		ce.Err = context.DeadlineExceeded
	default:
		ce.Failure = FailureCanceled
		ce.Detail = "stopped: the caller canceled"
		ce.Err = ctx.Err()
	}
}

// memoryNote says how much memory the instance uses, for error messages.
func (i *instance) memoryNote(limitPages uint32) string {
	if i == nil || i.mem == nil {
		return ""
	}
	pages := i.mem.Size() / 65536
	if pages >= limitPages-limitPages/10 {
		return fmt.Sprintf(" (memory %d of %d pages in use: the memory limit is reached)", pages, limitPages)
	}
	return fmt.Sprintf(" (memory %d of %d pages in use)", pages, limitPages)
}
