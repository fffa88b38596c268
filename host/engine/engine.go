package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// errCallTimeout is the cause of a context ended by the call timeout, which
// tells it apart from a deadline the caller set.
var errCallTimeout = errors.New("plugin call timeout")

// Engine loads and runs plugin modules. One Engine holds one wazero
// runtime: a module is compiled once per engine (and, with a cache
// directory, once per machine), and every Load of the same bytes shares the
// compiled code and the instance pool. An Engine is safe for concurrent use.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	rt    wazero.Runtime
	cache wazero.CompilationCache
	// fast compiles the modules of cfg.trusted without termination
	// checks; nil when there are none (or rt has no checks either).
	fast wazero.Runtime
	// workerCache is the compilation cache directory of worker
	// processes: cfg.cacheDir, or ownCache, a temporary directory the
	// engine made and removes on Close.
	workerCache, ownCache string

	mu      sync.Mutex
	closed  bool
	plugins map[string]*entry // by digest
}

// entry is a loaded (or loading) module shared by the Plugin handles of one
// digest.
type entry struct {
	done chan struct{} // closed when s or err is set
	s    *shared
	err  error
	refs int // open Plugin handles; guarded by Engine.mu
}

// New creates an engine with cfg, after validating it.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	if cfg.now == nil {
		cfg.now = NewConfig().now
	}
	e := &Engine{cfg: cfg, log: cfg.logger, plugins: map[string]*entry{}}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	rc := wazero.NewRuntimeConfig().WithMemoryLimitPages(cfg.memoryLimitPages)
	if cfg.cacheDir != "" {
		if err := os.MkdirAll(cfg.cacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("engine: compilation cache: %w", err)
		}
		cache, err := wazero.NewCompilationCacheWithDir(cfg.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("engine: compilation cache %s: %w", cfg.cacheDir, err)
		}
		e.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	if cfg.isolation == IsolationProcess && !cfg.uninterruptible {
		e.workerCache = cfg.cacheDir
		if e.workerCache == "" {
			dir, err := os.MkdirTemp("", "ppa-engine-cache-")
			if err != nil {
				return nil, fmt.Errorf("engine: worker compilation cache: %w", err)
			}
			e.workerCache, e.ownCache = dir, dir
		}
	}
	var err error
	if e.rt, err = newRuntime(ctx, rc.WithCloseOnContextDone(!cfg.uninterruptible)); err != nil {
		e.Close(ctx)
		return nil, err
	}
	if len(cfg.trusted) > 0 && !cfg.uninterruptible {
		if e.fast, err = newRuntime(ctx, rc.WithCloseOnContextDone(false)); err != nil {
			e.Close(ctx)
			return nil, err
		}
	}
	return e, nil
}

// newRuntime creates a wazero runtime with the host modules a plugin may
// import: WASI (granting nothing, see instantiate) and env.abort.
func newRuntime(ctx context.Context, rc wazero.RuntimeConfig) (wazero.Runtime, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("engine: wasi: %w", err)
	}
	_, err := rt.NewHostModuleBuilder("env").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(abort), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, nil).
		WithParameterNames("message", "file", "line", "column").
		Export("abort").
		Instantiate(ctx)
	if err != nil {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("engine: env module: %w", err)
	}
	return rt, nil
}

// runtimeFor returns the runtime a module of the given digest compiles in.
func (e *Engine) runtimeFor(digest string) wazero.Runtime {
	if e.fast != nil && e.cfg.trusted[digest] {
		return e.fast
	}
	return e.rt
}

// Close closes every plugin and instance of the engine and releases the
// compiled code. Calls in flight fail. Close is idempotent.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	entries := e.plugins
	e.plugins = map[string]*entry{}
	e.mu.Unlock()
	for _, en := range entries {
		select {
		case <-en.done:
			if en.s != nil {
				en.s.pool.close()
			}
		default:
		}
	}
	var err error
	for _, rt := range []wazero.Runtime{e.rt, e.fast} {
		if rt != nil {
			if cerr := rt.Close(ctx); cerr != nil && err == nil {
				err = cerr
			}
		}
	}
	if e.cache != nil {
		if cerr := e.cache.Close(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}
	if e.ownCache != "" {
		if cerr := os.RemoveAll(e.ownCache); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("close engine: %w", err)
	}
	return nil
}

// Digest returns the lowercase hex sha256 of wasm, as Load and pins use.
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

// Load compiles (or reuses) the module wasm, checks it and returns a handle
// to it. wantSHA256, when not empty, pins the module: the hex sha256 of
// wasm (optionally prefixed "sha256:") must equal it or Load fails naming
// both digests.
//
// The first Load of a digest compiles the module, checks its imports and
// exports (names and signatures), instantiates it, runs _initialize,
// checks ppa_abi_version with abi.CheckVersion and reads and validates
// ppa_describe. Concurrent and later Loads of the same digest share that
// work, the compiled code and the instance pool, until every handle is
// closed. A failed load is not remembered: the next Load tries again.
//
// # Notes
//
//   - ctx bounds the load; when several goroutines load the same module at
//     once the first one's ctx governs the shared work.
func (e *Engine) Load(ctx context.Context, wasm []byte, wantSHA256 string) (*Plugin, error) {
	digest := Digest(wasm)
	if wantSHA256 != "" {
		want := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(wantSHA256), "sha256:"))
		if _, err := hex.DecodeString(want); err != nil || len(want) != sha256.Size*2 {
			return nil, fmt.Errorf("load plugin: pinned digest %q is not a hex sha256", wantSHA256)
		}
		if want != digest {
			return nil, fmt.Errorf("load plugin: sha256 mismatch: pinned %s, module is %s", want, digest)
		}
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, fmt.Errorf("load plugin sha256:%s: engine %w", digest, ErrClosed)
	}
	en, ok := e.plugins[digest]
	if !ok {
		en = &entry{done: make(chan struct{})}
		e.plugins[digest] = en
	}
	en.refs++
	e.mu.Unlock()

	if !ok {
		en.s, en.err = e.load(ctx, wasm, digest)
		if en.err != nil {
			e.mu.Lock()
			if e.plugins[digest] == en {
				delete(e.plugins, digest)
			}
			e.mu.Unlock()
		}
		close(en.done)
	} else {
		select {
		case <-en.done:
		case <-ctx.Done():
			e.release(digest, en)
			return nil, fmt.Errorf("load plugin sha256:%s: %w", digest, ctx.Err())
		}
	}
	if en.err != nil {
		return nil, en.err
	}
	return &Plugin{s: en.s, digest: digest, en: en}, nil
}

// release drops one handle of en and frees it when it was the last.
func (e *Engine) release(digest string, en *entry) {
	e.mu.Lock()
	en.refs--
	last := en.refs == 0 && e.plugins[digest] == en
	if last {
		delete(e.plugins, digest)
	}
	e.mu.Unlock()
	if !last {
		return
	}
	<-en.done
	if en.s != nil {
		en.s.pool.close()
		if en.s.compiled != nil {
			_ = en.s.compiled.Close(context.Background())
		}
	}
}

// abort implements env.abort(message, file, line, column), which
// AssemblyScript calls on a failed assertion or uncaught error: it traps
// with the message and location.
func abort(_ context.Context, mod api.Module, stack []uint64) {
	msg := asString(mod.Memory(), api.DecodeU32(stack[0]))
	file := asString(mod.Memory(), api.DecodeU32(stack[1]))
	panic(fmt.Errorf("abort: %s at %s:%d:%d", msg, file, api.DecodeU32(stack[2]), api.DecodeU32(stack[3])))
}

// asString reads an AssemblyScript string (UTF-16LE, byte length in the
// u32 before ptr), or "?" when it is out of range.
func asString(mem api.Memory, ptr uint32) string {
	if mem == nil || ptr < 4 {
		return "?"
	}
	n, ok := mem.ReadUint32Le(ptr - 4)
	if !ok || n > 4096 || n%2 != 0 {
		return "?"
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return "?"
	}
	u := make([]uint16, n/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
