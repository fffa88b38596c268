package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/ppa-autoscaler/ppa/abi"
)

// signature is a function type: parameter and result value types.
type signature struct{ params, results []api.ValueType }

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// exportSignatures are the signatures SPEC.md requires, in the order the
// exports are checked.
var exportSignatures = []struct {
	name string
	sig  signature
}{
	{abi.ExportABIVersion, signature{nil, []api.ValueType{i32}}},
	{abi.ExportAlloc, signature{[]api.ValueType{i32}, []api.ValueType{i32}}},
	{abi.ExportFree, signature{[]api.ValueType{i32, i32}, nil}},
	{abi.ExportDescribe, signature{nil, []api.ValueType{i64}}},
	{abi.ExportTrain, signature{[]api.ValueType{i32, i32}, []api.ValueType{i64}}},
	{abi.ExportPredict, signature{[]api.ValueType{i32, i32}, []api.ValueType{i64}}},
}

// String renders a signature as in SPEC.md: "(i32, i32) -> i64".
func (s signature) String() string {
	names := func(ts []api.ValueType) string {
		out := make([]string, len(ts))
		for i, t := range ts {
			out[i] = api.ValueTypeName(t)
		}
		return strings.Join(out, ", ")
	}
	r := "(" + names(s.params) + ") -> "
	switch len(s.results) {
	case 0:
		return r + "()"
	case 1:
		return r + names(s.results)
	}
	return r + "(" + names(s.results) + ")"
}

// checkModule checks that a compiled module imports only what the engine
// provides and exports the ABI with the right signatures.
func checkModule(m wazero.CompiledModule) error {
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod == "wasi_snapshot_preview1" || mod == "env" && name == "abort" {
			continue
		}
		return fmt.Errorf("imports function %s.%s: a plugin may import only wasi_snapshot_preview1 and env.abort", mod, name)
	}
	for _, mem := range m.ImportedMemories() {
		mod, name, _ := mem.Import()
		return fmt.Errorf("imports memory %s.%s: a plugin must define and export its own memory", mod, name)
	}
	if _, ok := m.ExportedMemories()["memory"]; !ok {
		return fmt.Errorf("exports no memory named \"memory\"")
	}
	exports := m.ExportedFunctions()
	var missing []string
	for _, want := range exportSignatures {
		f, ok := exports[want.name]
		if !ok {
			missing = append(missing, want.name)
			continue
		}
		got := signature{f.ParamTypes(), f.ResultTypes()}
		if !slices.Equal(got.params, want.sig.params) || !slices.Equal(got.results, want.sig.results) {
			return fmt.Errorf("export %s has signature %s, want %s", want.name, got, want.sig)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing export %s (a plugin exports %s)", strings.Join(missing, ", "), strings.Join(abi.RequiredExports, ", "))
	}
	if f, ok := exports[abi.ExportInitialize]; ok && (len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 0) {
		return fmt.Errorf("export %s has signature %s, want () -> ()", abi.ExportInitialize, signature{f.ParamTypes(), f.ResultTypes()})
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
