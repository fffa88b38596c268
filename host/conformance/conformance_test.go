package conformance

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalnaive"
	"github.com/ppa-autoscaler/ppa/plugins/seasonalprofile"
)

func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := engine.New(ctx, engine.NewConfig().WithPoolSize(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	return e
}

// wantChecks asserts the status of named checks and that no check outside
// the map failed.
func wantChecks(t *testing.T, r Report, want map[string]Status) {
	t.Helper()
	for _, c := range r.Results {
		st, named := want[c.Name]
		switch {
		case named && c.Status != st:
			t.Errorf("check %s: %s (%s), want %s", c.Name, c.Status, c.Detail, st)
		case !named && c.Status != Pass:
			t.Errorf("check %s: %s (%s), want pass", c.Name, c.Status, c.Detail)
		}
		delete(want, c.Name)
	}
	for name := range want {
		t.Errorf("check %s did not run", name)
	}
	if t.Failed() {
		t.Logf("report:\n%s", r.String())
	}
}

func TestSeasonalNaiveNativeConforms(t *testing.T) {
	r := RunForecaster(context.Background(), engine.Native(seasonalnaive.New()))
	wantChecks(t, r, map[string]Status{})
	if !r.Passed() {
		t.Fatal("Passed() is false")
	}
	if len(r.Results) != len(dynamicChecks) {
		t.Fatalf("%d checks ran, want %d", len(r.Results), len(dynamicChecks))
	}
}

func TestSeasonalNaiveWasmConforms(t *testing.T) {
	wasm := testwasm.Build(t, "./plugins/seasonalnaive/wasm")
	r := Run(context.Background(), newEngine(t), wasm)
	wantChecks(t, r, map[string]Status{})
	if !r.Passed() || r.Plugin != seasonalnaive.Name || r.Digest != engine.Digest(wasm) {
		t.Fatalf("report header %q %q %q, passed %t", r.Plugin, r.Version, r.Digest, r.Passed())
	}
}

func TestBrokenPluginFails(t *testing.T) {
	wasm := testwasm.Build(t, "./host/conformance/testdata/broken")
	r := Run(context.Background(), newEngine(t), wasm)
	wantChecks(t, r, map[string]Status{
		"describe":              Fail,
		"round-trip/seasonal":   Fail,
		"round-trip/gaps":       Fail,
		"round-trip/min-points": Fail,
		"determinism":           Fail,
		"too-few-points":        Fail,
		"unknown-parameter":     Fail,
		"bad-parameter-type":    Fail,
		"garbage-model":         Fail,
		"still-answering":       Fail,
		// The mean of a constant is that constant; the bounds are
		// not checked past the first bad one.
		"round-trip/constant": Fail,
	})
	if r.Passed() {
		t.Fatal("Passed() is true")
	}
	reasons := map[string]string{
		"describe":            `version "0.1" is not a semantic version`,
		"round-trip/seasonal": "is not within",
		"too-few-points":      "train on an empty series: succeeded, want INSUFFICIENT_DATA or INVALID_ARGUMENT",
		"unknown-parameter":   "succeeded, want INVALID_ARGUMENT",
		"bad-parameter-type":  `{"level":true}`,
		"garbage-model":       "status INTERNAL, want INVALID_MODEL or INVALID_ARGUMENT",
		"determinism":         "a second training gave a different model",
		"still-answering":     "a second training gave a different model",
	}
	for name, want := range reasons {
		c, _ := r.Result(name)
		if !strings.Contains(c.Detail, want) {
			t.Errorf("check %s: detail %q does not contain %q", name, c.Detail, want)
		}
	}
	text := r.String()
	for _, want := range []string{"plugin  broken 0.1", "FAIL  describe", "(check: the description is complete", "FAILED: 6 passed, 11 failed, 0 skipped"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report does not contain %q:\n%s", want, text)
		}
	}
}

func TestStaticFailures(t *testing.T) {
	okFuncs := []fn{
		{"ppa_abi_version", nil, []byte{i32}, []byte{0x41, 0x80, 0x80, 0x04}}, // i32.const 65536
		{"ppa_alloc", []byte{i32}, []byte{i32}, nil},
		{"ppa_free", []byte{i32, i32}, nil, nil},
		{"ppa_describe", nil, []byte{i64}, nil},
		{"ppa_train", []byte{i32, i32}, []byte{i64}, nil},
		{"ppa_predict", []byte{i32, i32}, []byte{i64}, nil},
	}
	replace := func(name string, f fn) []fn {
		out := append([]fn(nil), okFuncs...)
		for i := range out {
			if out[i].name == name {
				out[i] = f
			}
		}
		return out
	}
	tests := []struct {
		name   string
		wasm   []byte
		want   map[string]Status
		detail map[string]string
	}{
		{
			name: "not wasm",
			wasm: []byte("#!/bin/sh\necho hi\n"),
			want: map[string]Status{"module": Fail, "imports": Skip, "exports": Skip, "load": Fail},
			detail: map[string]string{
				"module": "no \\0asm magic",
			},
		},
		{
			name: "empty module",
			wasm: assemble(nil, nil, false),
			want: map[string]Status{"exports": Fail, "load": Fail},
			detail: map[string]string{
				"exports": `no memory exported as "memory"; missing ppa_abi_version; missing ppa_alloc`,
			},
		},
		{
			name: "wrong signature",
			wasm: assemble(nil, replace("ppa_train", fn{"ppa_train", []byte{i32}, []byte{i64}, nil}), true),
			want: map[string]Status{"exports": Fail, "load": Fail},
			detail: map[string]string{
				"exports": "ppa_train has signature (i32) -> i64, want (i32, i32) -> i64",
				"load":    "ppa_train",
			},
		},
		{
			name: "forbidden import",
			wasm: assemble([]imp{{"env", "now", nil, []byte{i64}}}, okFuncs, true),
			want: map[string]Status{"imports": Fail, "load": Fail},
			detail: map[string]string{
				"imports": "function env.now",
			},
		},
		{
			name: "future ABI major version",
			wasm: assemble(nil, replace("ppa_abi_version", fn{"ppa_abi_version", nil, []byte{i32}, []byte{0x41, 0x80, 0x80, 0x08}}), true),
			want: map[string]Status{"load": Fail},
			detail: map[string]string{
				"load": "2.0.0",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(context.Background(), newEngine(t), tc.wasm)
			want := map[string]Status{}
			for _, c := range dynamicChecks {
				want[c.name] = Skip
			}
			for k, v := range tc.want {
				want[k] = v
			}
			wantChecks(t, r, want)
			for name, d := range tc.detail {
				c, _ := r.Result(name)
				if !strings.Contains(c.Detail, d) {
					t.Errorf("check %s: detail %q does not contain %q", name, c.Detail, d)
				}
			}
			if r.Passed() {
				t.Error("Passed() is true")
			}
		})
	}
}

func TestReportJSON(t *testing.T) {
	r := RunForecaster(context.Background(), engine.Native(seasonalnaive.New()))
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != len(r.Results) || back.Results[0].Status != Pass || back.Plugin != seasonalnaive.Name {
		t.Fatalf("JSON round trip lost data: %s", b)
	}
}

func TestEmptyReportDoesNotPass(t *testing.T) {
	var r Report
	if r.Passed() {
		t.Fatal("a report without checks passed")
	}
}

// A tiny WebAssembly assembler for the static checks' fixtures.

const (
	i32 = byte(abi.I32)
	i64 = byte(abi.I64)
)

type fn struct {
	name            string
	params, results []byte
	// body is the instruction sequence before "end"; nil returns zeros.
	body []byte
}

type imp struct {
	module, name    string
	params, results []byte
}

func uleb(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

func vec(items ...[]byte) []byte {
	b := uleb(uint32(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func name(s string) []byte { return append(uleb(uint32(len(s))), s...) }

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, uleb(uint32(len(body)))...), body...)
}

func assemble(imports []imp, funcs []fn, memory bool) []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	var types, imps, fidx, exps, codes [][]byte
	typeOf := func(params, results []byte) []byte {
		t := append([]byte{0x60}, vec(split(params)...)...)
		t = append(t, vec(split(results)...)...)
		types = append(types, t)
		return uleb(uint32(len(types) - 1))
	}
	for _, im := range imports {
		e := append(name(im.module), name(im.name)...)
		e = append(e, 0)
		imps = append(imps, append(e, typeOf(im.params, im.results)...))
	}
	for i, f := range funcs {
		fidx = append(fidx, typeOf(f.params, f.results))
		e := append(name(f.name), 0)
		exps = append(exps, append(e, uleb(uint32(len(imports)+i))...))
		body := f.body
		if body == nil {
			for _, r := range f.results {
				body = append(body, map[byte]byte{i32: 0x41, i64: 0x42}[r], 0)
			}
		}
		code := append([]byte{0}, body...) // no locals
		code = append(code, 0x0b)
		codes = append(codes, append(uleb(uint32(len(code))), code...))
	}
	if memory {
		exps = append(exps, append(name("memory"), 2, 0))
	}
	if len(types) > 0 {
		out = append(out, section(1, vec(types...))...)
	}
	if len(imps) > 0 {
		out = append(out, section(2, vec(imps...))...)
	}
	if len(fidx) > 0 {
		out = append(out, section(3, vec(fidx...))...)
	}
	if memory {
		out = append(out, section(5, vec([]byte{0, 1}))...)
	}
	if len(exps) > 0 {
		out = append(out, section(7, vec(exps...))...)
	}
	if len(codes) > 0 {
		out = append(out, section(10, vec(codes...))...)
	}
	return out
}

func split(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

func TestSeasonalProfileConforms(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func() Report
	}{
		{"native", func() Report { return RunForecaster(context.Background(), engine.Native(seasonalprofile.New())) }},
		{"wasm", func() Report {
			return Run(context.Background(), newEngine(t), testwasm.Build(t, "./plugins/seasonalprofile/wasm"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run()
			wantChecks(t, r, map[string]Status{})
			if !r.Passed() {
				t.Fatal("Passed() is false")
			}
		})
	}
}

// TestLoopingPluginFailsFast verifies a plugin whose train never returns:
// the first check that trains runs out of its time, and the checks after it
// fail at once without running, rather than each waiting for the engine's
// call timeout (seven trains at 30s each took 210s).
func TestLoopingPluginFailsFast(t *testing.T) {
	wasm := testwasm.Build(t, "./host/engine/testdata/guests/loop")
	ctx := context.Background()
	e, err := engine.New(ctx, engine.NewConfig().WithPoolSize(1).WithCallTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(ctx) })
	// A handle held through the test keeps the module compiled, so that
	// the second run's load does not eat its deadline.
	held, err := e.Load(ctx, wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close(ctx)
	r := Run(ctx, e, wasm, WithCheckTimeout(200*time.Millisecond))
	want := map[string]Status{"describe": Fail} // min_points is 0
	timedOut := 0
	for _, c := range r.Results {
		switch {
		case strings.Contains(c.Detail, "did not answer within the 200ms check timeout") && !strings.HasPrefix(c.Detail, "not run"):
			timedOut++
			want[c.Name] = Fail
		case strings.HasPrefix(c.Detail, "not run: the plugin did not answer within the 200ms check timeout"):
			want[c.Name] = Fail
		}
	}
	if timedOut != 1 {
		t.Errorf("%d checks ran out of time, want exactly 1 (the first that trains)", timedOut)
	}
	if len(want) < 10 {
		t.Errorf("%d checks failed for the loop, want every check from the first train on", len(want))
	}
	wantChecks(t, r, want)

	// The run's own deadline stops it the same way.
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r = Run(dctx, e, wasm)
	last := r.Results[len(r.Results)-1]
	if last.Status != Fail || !strings.Contains(last.Detail, "not run: the run's deadline passed") {
		t.Errorf("last check after the run's deadline: %s %q", last.Status, last.Detail)
	}
}

// TestSDKExportsAreTheTable reads a plugin built with the Go SDK, whose
// //go:wasmexport directives cannot name abi's constants: it exports
// exactly the functions of abi.Exports with their signatures, no other
// ppa_ function.
func TestSDKExportsAreTheTable(t *testing.T) {
	mod, err := parseModule(testwasm.Build(t, "./plugins/seasonalnaive/wasm"))
	if err != nil {
		t.Fatal(err)
	}
	table := map[string]abi.Export{}
	for _, e := range abi.Exports {
		table[e.Name] = e
	}
	for name, ex := range mod.exports {
		want, ok := table[name]
		switch {
		case !ok && strings.HasPrefix(name, "ppa_"):
			t.Errorf("the SDK exports %s, which abi.Exports lacks", name)
		case ok && !ex.typ.Equal(want.Signature):
			t.Errorf("the SDK exports %s as %s, abi.Exports says %s", name, ex.typ, want.Signature)
		}
		delete(table, name)
	}
	for name, e := range table {
		if e.Required {
			t.Errorf("the SDK does not export %s", name)
		}
	}
}
