package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/ppa-autoscaler/ppa/abi"
)

// signatureOf is the ABI signature of a compiled function's type.
func signatureOf(f api.FunctionDefinition) abi.Signature {
	conv := func(ts []api.ValueType) []abi.ValueType {
		if len(ts) == 0 {
			return nil
		}
		out := make([]abi.ValueType, len(ts))
		for i, t := range ts {
			out[i] = abi.ValueType(t)
		}
		return out
	}
	return abi.Signature{Params: conv(f.ParamTypes()), Results: conv(f.ResultTypes())}
}

// checkModule checks that a compiled module imports only what the engine
// provides and exports the ABI with the right signatures.
func checkModule(m wazero.CompiledModule) error {
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		if abi.ImportAllowed(mod, name) {
			continue
		}
		return fmt.Errorf("imports function %s.%s: a plugin may import only %s", mod, name, abi.ImportsDescription)
	}
	for _, mem := range m.ImportedMemories() {
		mod, name, _ := mem.Import()
		return fmt.Errorf("imports memory %s.%s: a plugin must define and export its own memory", mod, name)
	}
	if _, ok := m.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("exports no memory named %q", abi.ExportMemory)
	}
	exports := m.ExportedFunctions()
	var missing []string
	for _, want := range abi.Exports {
		f, ok := exports[want.Name]
		if !ok {
			if want.Required {
				missing = append(missing, want.Name)
			}
			continue
		}
		if got := signatureOf(f); !got.Equal(want.Signature) {
			return fmt.Errorf("export %s has signature %s, want %s", want.Name, got, want.Signature)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing export %s (a plugin exports %s)", strings.Join(missing, ", "), strings.Join(abi.RequiredExports, ", "))
	}
	return nil
}

// load compiles and checks a module and prepares its pool, keeping the
// instance used for the checks as the pool's first idle one. For
// RunSandboxedProcess the first worker process compiles and checks it.
func (e *Engine) load(ctx context.Context, wasm []byte, digest string) (*shared, error) {
	start := e.cfg.now()
	s := &shared{e: e, mode: e.RunModeFor(digest), digest: digest, label: "sha256:" + digest[:12]}
	fail := func(err error) error { return fmt.Errorf("load plugin %s: %w", s.label, err) }
	var first slot
	if s.mode == RunSandboxedProcess {
		s.wasm = wasm
		s.pool = newPool(e.cfg.poolSize, s.spawn)
		w, err := s.startWorker(ctx, true)
		if err != nil {
			return nil, fail(err)
		}
		first = w
	} else {
		s.rt = e.runtimeFor(digest)
		compiled, err := s.rt.CompileModule(ctx, wasm)
		if err != nil {
			return nil, fail(fmt.Errorf("compile: %w", err))
		}
		if err := checkModule(compiled); err != nil {
			_ = compiled.Close(ctx)
			return nil, fail(err)
		}
		s.compiled = compiled
		s.pool = newPool(e.cfg.poolSize, func(ctx context.Context) (slot, error) {
			inst, err := s.instantiate(ctx)
			if err != nil {
				return nil, err
			}
			return inst, nil
		})
	}
	compiledAt := e.cfg.now()
	ok := false
	defer func() {
		if !ok {
			s.pool.close()
			if s.compiled != nil {
				_ = s.compiled.Close(context.Background())
			}
		}
	}()

	ctx, cancel := context.WithTimeoutCause(ctx, e.cfg.callTimeout, errCallTimeout)
	defer cancel()
	var inst slot
	if first != nil {
		// The worker is not counted as running a call: take a token.
		if err := s.pool.adopt(ctx, first); err != nil {
			first.close()
			return nil, fail(err)
		}
		inst = first
	} else {
		var err error
		if inst, _, err = s.pool.get(ctx); err != nil {
			return nil, fail(err)
		}
	}
	healthy := false
	defer func() { s.pool.put(inst, healthy) }()

	// Nothing but ppa_abi_version may run before the version check.
	v, err := inst.abiVersion(ctx)
	if err != nil {
		return nil, fail(err)
	}
	s.version = v
	if err := abi.CheckVersion(s.version); err != nil {
		return nil, fail(err)
	}

	out, output, ce, _ := inst.exchange(ctx, abi.ExportDescribe, nil)
	if ce != nil {
		return nil, fail(ce)
	}
	payload, err := abi.DecodeResult(out)
	if err != nil {
		return nil, fail(fmt.Errorf("%s: %w", abi.ExportDescribe, err))
	}
	if err := json.Unmarshal(payload, &s.desc); err != nil {
		return nil, fail(fmt.Errorf("%s: description is not valid JSON: %w", abi.ExportDescribe, err))
	}
	if err := s.desc.Validate(); err != nil {
		return nil, fail(fmt.Errorf("%s: %w", abi.ExportDescribe, err))
	}
	if output != "" {
		e.log.Debug("plugin output", "plugin", s.label, "method", abi.ExportDescribe, "output", output)
	}
	s.label = fmt.Sprintf("%s %s (sha256:%s)", s.desc.Name, s.desc.Version, digest[:12])
	healthy, ok = true, true
	e.log.Info("plugin loaded", "plugin", s.desc.Name, "version", s.desc.Version, "sha256", digest,
		"abi", abi.VersionString(s.version), "mode", string(s.mode), "compile", compiledAt.Sub(start), "total", e.cfg.now().Sub(start))
	return s, nil
}
