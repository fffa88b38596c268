package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/ppa-autoscaler/ppa/abi"
)

// shared is what all Plugin handles of one digest share.
type shared struct {
	e        *Engine
	mode     RunMode
	rt       wazero.Runtime // the runtime compiled is from (see Engine.runtimeFor)
	digest   string
	label    string                // "name version (sha256:prefix)" once described
	compiled wazero.CompiledModule // nil for RunSandboxedProcess
	wasm     []byte                // the module, for RunSandboxedProcess workers
	version  uint32
	desc     abi.Description
	pool     *pool
	stats    counters
}

// Plugin is a loaded plugin module. Its methods are safe for concurrent
// use: each call runs on its own instance from a bounded pool.
type Plugin struct {
	s      *shared
	digest string
	en     *entry
	closed atomic.Bool
	once   sync.Once
}

var _ Forecaster = (*Plugin)(nil)

// Digest returns the lowercase hex sha256 of the module.
func (p *Plugin) Digest() string { return p.digest }

// ABIVersion returns the packed ABI version the plugin reported.
func (p *Plugin) ABIVersion() uint32 { return p.s.version }

// Description returns the plugin's validated self-description.
func (p *Plugin) Description() abi.Description { return p.s.desc }

// String returns "name version (sha256:digest prefix)".
func (p *Plugin) String() string { return p.s.label }

// Close releases the handle. When the last handle of a module is closed,
// its instances and compiled code are freed. Calls in flight finish; later
// calls fail with an error wrapping ErrClosed. Close is idempotent.
func (p *Plugin) Close(ctx context.Context) error {
	p.once.Do(func() {
		p.closed.Store(true)
		p.s.e.release(p.digest, p.en)
	})
	return nil
}

// Train runs ppa_train. A status the plugin reports comes back as an
// *abi.Error (use errors.As); any other failure is a *CallError.
func (p *Plugin) Train(ctx context.Context, req *abi.TrainRequest) (*abi.TrainResponse, error) {
	in, err := abi.EncodeTrainRequest(req)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %s: %w", p.s.label, abi.ExportTrain, err)
	}
	var resp *abi.TrainResponse
	err = p.call(ctx, abi.ExportTrain, in, func(out []byte) (err error) {
		resp, err = abi.DecodeTrainResponse(out)
		return err
	})
	return resp, err
}

// Predict runs ppa_predict. A status the plugin reports comes back as an
// *abi.Error (use errors.As); any other failure is a *CallError. The
// response is checked to hold one point forecast per requested timestamp.
func (p *Plugin) Predict(ctx context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error) {
	in, err := abi.EncodePredictRequest(req)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %s: %w", p.s.label, abi.ExportPredict, err)
	}
	var resp *abi.PredictResponse
	err = p.call(ctx, abi.ExportPredict, in, func(out []byte) (err error) {
		resp, err = abi.DecodePredictResponse(out)
		if err == nil && len(resp.Yhat) != len(req.Timestamps) {
			err = fmt.Errorf("predict response: %d point forecasts for %d timestamps", len(resp.Yhat), len(req.Timestamps))
		}
		return err
	})
	return resp, err
}

// call runs export on an instance from the pool with the encoded request
// in, and hands the OK payload to decode.
func (p *Plugin) call(ctx context.Context, export string, in []byte, decode func([]byte) error) error {
	if p.closed.Load() {
		return &CallError{Plugin: p.s.label, Method: export, Failure: FailureClosed, Detail: "plugin", Err: ErrClosed}
	}
	return p.s.run(ctx, export, in, decode)
}

// run is call without the handle check; Load uses it too.
func (s *shared) run(ctx context.Context, export string, in []byte, decode func([]byte) error) (err error) {
	start := s.e.cfg.now()
	var fresh bool
	var failure Failure
	defer func() {
		s.observe(export, start, fresh, failure, err)
	}()
	if len(in) > abi.MaxMessageSize {
		return fmt.Errorf("plugin %s: %s: request of %d bytes exceeds the %d-byte limit", s.label, export, len(in), abi.MaxMessageSize)
	}
	if ctx.Err() != nil {
		// Do not spend (and lose) an instance on a call that cannot run.
		ce := &CallError{Plugin: s.label, Method: export}
		s.contextFailure(ctx, ce)
		failure = ce.Failure
		return ce
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.e.cfg.callTimeout, errCallTimeout)
	defer cancel()

	inst, fresh, err := s.pool.get(ctx)
	if err != nil {
		var ce *CallError
		switch {
		case errors.As(err, &ce):
			failure = ce.Failure
			return ce
		case errors.Is(err, ErrClosed):
			failure = FailureClosed
			return &CallError{Plugin: s.label, Method: export, Failure: FailureClosed, Detail: "plugin", Err: ErrClosed}
		case ctx.Err() != nil:
			ce = &CallError{Plugin: s.label, Method: export}
			s.contextFailure(ctx, ce)
			ce.Detail = "no instance became free: " + ce.Detail
			failure = ce.Failure
			return ce
		}
		return fmt.Errorf("plugin %s: %s: %w", s.label, export, err)
	}
	out, output, ce, gone := inst.exchange(ctx, export, in)
	if output != "" {
		s.e.log.Debug("plugin output", "plugin", s.label, "method", export, "output", output)
	}
	if ce != nil {
		s.pool.put(inst, !gone)
		ce.Plugin = s.label
		failure = ce.Failure
		what := "instance discarded"
		if s.mode == RunSandboxedProcess && !gone {
			what = "instance discarded, worker kept"
		}
		s.e.log.Debug("plugin call failed, "+what, "plugin", s.label, "method", export, "failure", string(ce.Failure), "error", ce.Error())
		return ce
	}
	payload, err := abi.DecodeResult(out)
	if err != nil {
		var ae *abi.Error
		if errors.As(err, &ae) {
			s.pool.put(inst, true)
			return fmt.Errorf("plugin %s: %s: %w", s.label, export, knownStatus(ae))
		}
		s.pool.put(inst, false)
		failure = FailureProtocol
		return &CallError{Plugin: s.label, Method: export, Failure: FailureProtocol, Detail: "malformed result", Err: err, Output: output}
	}
	if err := decode(payload); err != nil {
		s.pool.put(inst, false)
		failure = FailureProtocol
		return &CallError{Plugin: s.label, Method: export, Failure: FailureProtocol, Detail: "malformed result", Err: err, Output: output}
	}
	s.pool.put(inst, true)
	return nil
}

// exchange writes the request into the instance, calls export, and copies
// the result out. Any error means the instance must be discarded.
func (s *shared) exchange(ctx context.Context, inst *instance, export string, in []byte) ([]byte, *CallError) {
	var fn api.Function
	switch export {
	case abi.ExportTrain:
		fn = inst.train
	case abi.ExportPredict:
		fn = inst.predict
	case abi.ExportDescribe:
		fn = inst.describe
	default:
		return nil, &CallError{Plugin: s.label, Method: export, Failure: FailureProtocol, Detail: "not an ABI call"}
	}
	var inPtr uint32
	var params []uint64
	if export == abi.ExportTrain || export == abi.ExportPredict {
		r, err := inst.call(ctx, inst.alloc, api.EncodeI32(int32(len(in))))
		if err != nil {
			return nil, s.failure(ctx, abi.ExportAlloc, err, inst.out.take(), inst)
		}
		inPtr = api.DecodeU32(r)
		if inPtr == 0 {
			return nil, s.protocolError(abi.ExportAlloc, inst, "ppa_alloc(%d) returned 0", len(in))
		}
		if !inst.mem.Write(inPtr, in) {
			return nil, s.protocolError(abi.ExportAlloc, inst, "ppa_alloc(%d) returned %#x, outside the %d-byte memory", len(in), inPtr, inst.mem.Size())
		}
		params = []uint64{api.EncodeU32(inPtr), api.EncodeI32(int32(len(in)))}
	}
	r, err := inst.call(ctx, fn, params...)
	if err != nil {
		return nil, s.failure(ctx, export, err, inst.out.take(), inst)
	}
	ptr, n := abi.UnpackResult(r)
	if n < 4 {
		return nil, s.protocolError(export, inst, "result of %d bytes at %#x: shorter than its 4-byte status", n, ptr)
	}
	if uint64(n) > uint64(s.e.cfg.maxResultBytes) {
		return nil, s.protocolError(export, inst, "result of %d bytes exceeds the %d-byte limit", n, s.e.cfg.maxResultBytes)
	}
	if size := inst.mem.Size(); uint64(ptr)+uint64(n) > uint64(size) {
		return nil, s.protocolError(export, inst, "result at %#x of %d bytes lies outside the %d-byte memory", ptr, n, size)
	}
	view, _ := inst.mem.Read(ptr, n)
	out := slices.Clone(view)
	if _, err := inst.call(ctx, inst.free, api.EncodeU32(ptr), api.EncodeU32(n)); err != nil {
		return nil, s.failure(ctx, abi.ExportFree, err, inst.out.take(), inst)
	}
	if inPtr != 0 {
		if _, err := inst.call(ctx, inst.free, api.EncodeU32(inPtr), api.EncodeI32(int32(len(in)))); err != nil {
			return nil, s.failure(ctx, abi.ExportFree, err, inst.out.take(), inst)
		}
	}
	return out, nil
}

// protocolError reports a guest that broke the ABI.
func (s *shared) protocolError(method string, inst *instance, format string, args ...any) *CallError {
	return &CallError{
		Plugin: s.label, Method: method, Failure: FailureProtocol,
		Detail: fmt.Sprintf(format, args...) + inst.memoryNote(s.e.cfg.memoryLimitPages),
	}
}

// knownStatus maps a status this host does not know to INTERNAL, as
// SPEC.md requires, keeping the number in the message.
func knownStatus(ae *abi.Error) *abi.Error {
	if ae.Status <= abi.StatusInternal {
		return ae
	}
	return &abi.Error{Status: abi.StatusInternal, Message: fmt.Sprintf("status %d: %s", uint32(ae.Status), ae.Message)}
}
