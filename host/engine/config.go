package engine

import (
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"
)

// Defaults of Config. Each can be changed with the matching With method.
const (
	// DefaultMemoryLimitPages caps a plugin instance's linear memory at
	// 4096 pages of 64 KiB = 256 MiB.
	DefaultMemoryLimitPages = 4096
	// DefaultCallTimeout bounds the wall time of one plugin call
	// (including instantiating a fresh instance when the pool has none).
	DefaultCallTimeout = 30 * time.Second
	// DefaultMaxOutputBytes is how much of a call's stdout and stderr
	// (together) is kept: the last 64 KiB.
	DefaultMaxOutputBytes = 64 << 10
	// DefaultMaxResultBytes bounds the result buffer a call may return:
	// 64 MiB.
	DefaultMaxResultBytes = 64 << 20
)

// maxMemoryLimitPages is the most a wasm32 memory can have (4 GiB).
const maxMemoryLimitPages = 65536

// Config configures an Engine. It is immutable: every With method returns
// a changed copy and never fails; New validates the result. The zero value
// is not useful: start from NewConfig.
type Config struct {
	cacheDir         string
	memoryLimitPages uint32
	callTimeout      time.Duration
	maxOutputBytes   int
	maxResultBytes   int
	poolSize         int
	logger           *slog.Logger
	observer         func(CallInfo)
	now              func() time.Time
	// uninterruptible turns off wazero's termination checks (see
	// WithInterruptible); the zero value keeps them, the default.
	uninterruptible bool
	// trusted holds lowercase hex digests of modules compiled without
	// termination checks (see WithTrustedDigests).
	trusted map[string]bool
	// isolation is how untrusted modules run (see WithIsolation).
	isolation Isolation
	// workerOverhead is the address space a worker process may use
	// beyond its guest's memory limit (see WithWorkerAddressSpace).
	workerOverhead uint64
}

// NewConfig returns the default configuration: no compilation cache
// directory, a memory limit of DefaultMemoryLimitPages, DefaultCallTimeout,
// DefaultMaxOutputBytes, DefaultMaxResultBytes, a pool of
// runtime.GOMAXPROCS(0) instances per plugin, DefaultIsolation for untrusted
// modules, no logging and no observer.
func NewConfig() Config {
	return Config{
		memoryLimitPages: DefaultMemoryLimitPages,
		callTimeout:      DefaultCallTimeout,
		maxOutputBytes:   DefaultMaxOutputBytes,
		maxResultBytes:   DefaultMaxResultBytes,
		poolSize:         runtime.GOMAXPROCS(0),
		now:              time.Now,
		isolation:        DefaultIsolation(),
		workerOverhead:   DefaultWorkerOverhead,
	}
}

// WithCacheDir keeps compiled machine code in dir (created if missing), so
// that another engine or process loading the same module skips
// compilation. Empty (the default) caches in memory only, for the life of
// the engine.
//
// # Notes
//
//   - The directory may be shared by several processes of the same build;
//     wazero keys entries by module content and its own version.
func (c Config) WithCacheDir(dir string) Config { c.cacheDir = dir; return c }

// WithMemoryLimitPages caps each instance's linear memory, in 64 KiB pages
// (1..65536). A plugin that needs more fails the call with an error; the
// memory of a module that declares a larger minimum fails to load.
// Default DefaultMemoryLimitPages (256 MiB).
func (c Config) WithMemoryLimitPages(pages uint32) Config { c.memoryLimitPages = pages; return c }

// WithCallTimeout bounds the wall time of each plugin call; when it passes
// the guest is stopped (even in an endless loop: its worker process is
// killed, or in-process the termination checks fire) and the call returns
// an error wrapping context.DeadlineExceeded. The caller's context can only
// shorten it. Must be positive. Default DefaultCallTimeout.
func (c Config) WithCallTimeout(d time.Duration) Config { c.callTimeout = d; return c }

// WithMaxOutputBytes sets how many bytes of a call's stdout and stderr are
// kept (the last ones; older output is dropped and counted). The captured
// output is logged at debug level and appended to the error of a failed
// call. Zero discards all output. Default DefaultMaxOutputBytes.
func (c Config) WithMaxOutputBytes(n int) Config { c.maxOutputBytes = n; return c }

// WithMaxResultBytes bounds the size of the result buffer one call may
// return; a larger result fails the call. Must be at least 4 (the status).
// Default DefaultMaxResultBytes.
func (c Config) WithMaxResultBytes(n int) Config { c.maxResultBytes = n; return c }

// WithPoolSize sets, per loaded plugin, the most instances that run calls
// at once and the most kept idle between calls. Further callers wait for a
// free instance (or their context). Must be positive. Default
// runtime.GOMAXPROCS(0) at the time NewConfig was called.
func (c Config) WithPoolSize(n int) Config { c.poolSize = n; return c }

// WithInterruptible sets whether a running call can be stopped by the call
// timeout or the caller's context. True (the default) compiles every
// module with wazero's termination checks, which leave machine code for Go
// on every iteration of every loop of the guest: loop-heavy guests run
// 10–100× slower than without them (Go guests are all loops; see
// BENCHMARKS.md and wazero issue #2466).
//
// False compiles modules without the checks. Calls then always run to the
// end: the call timeout and the caller's context only bound the wait for
// an instance, a guest in an endless loop hangs its caller, and a running
// guest holds its OS thread and Go scheduler slot (P) until it returns.
// Use it only for trusted modules, such as the built-in plugins, where
// speed matters more than stopping a runaway call; the memory limit and
// the sandbox still apply. Engines of both kinds may share a cache
// directory: wazero keys compiled code by this setting too.
func (c Config) WithInterruptible(on bool) Config { c.uninterruptible = !on; return c }

// WithTrustedDigests names modules, by the lowercase hex sha256 of their
// bytes, that run without termination checks even when the engine is
// interruptible: they get the speed of WithInterruptible(false) and its
// cost (a running call of theirs cannot be stopped), while every other
// module stays interruptible. List only modules whose code you control,
// such as the built-in plugins this binary ships (plugins/builtin.Digests):
// a user's uploaded plugin keeps its time limit (and, with
// IsolationProcess, runs in a worker process at the same speed). Each call replaces the
// previous set; malformed digests are reported by New.
func (c Config) WithTrustedDigests(digests ...string) Config {
	c.trusted = make(map[string]bool, len(digests))
	for _, d := range digests {
		c.trusted[d] = true
	}
	return c
}

// WithLogger sets the logger for load events and the captured output of
// plugins (debug level). Nil (the default) logs nothing.
func (c Config) WithLogger(l *slog.Logger) Config { c.logger = l; return c }

// WithObserver sets a function called after every plugin call (train,
// predict; also the calls made while loading) with its outcome and
// duration, for metrics. It runs on the caller's goroutine and must be
// fast and safe for concurrent use. Nil (the default) disables it.
func (c Config) WithObserver(f func(CallInfo)) Config { c.observer = f; return c }

// WithClock sets the clock used to measure call durations. Nil restores
// time.Now (the default).
func (c Config) WithClock(now func() time.Time) Config { c.now = now; return c }

// WithIsolation sets how modules that are not trusted (see
// WithTrustedDigests) run. IsolationProcess (the default where the
// platform supports it, see DefaultIsolation) runs each instance in a
// worker process of its own, compiled without termination checks, with OS
// limits and a system-call filter; a call that overruns its time is ended
// by killing the worker. IsolationInProcess runs them in the caller's
// process with wazero's termination checks, several times slower for
// loop-heavy guests. Ignored for an engine built WithInterruptible(false),
// which trusts every module.
func (c Config) WithIsolation(i Isolation) Config { c.isolation = i; return c }

// WithWorkerAddressSpace sets how much address space (RLIMIT_AS) a worker
// process may use beyond its guest's memory limit: the Go runtime, the
// compiled code and the copies a growing linear memory makes. Default
// DefaultWorkerOverhead; 0 sets no address-space limit.
func (c Config) WithWorkerAddressSpace(overhead uint64) Config { c.workerOverhead = overhead; return c }

// validate reports the first invalid setting.
func (c Config) validate() error {
	if c.memoryLimitPages < 1 || c.memoryLimitPages > maxMemoryLimitPages {
		return fmt.Errorf("memory limit of %d pages: want 1 to %d", c.memoryLimitPages, maxMemoryLimitPages)
	}
	if c.callTimeout <= 0 {
		return fmt.Errorf("call timeout %s: must be positive", c.callTimeout)
	}
	if c.maxOutputBytes < 0 {
		return fmt.Errorf("max output bytes %d: must not be negative", c.maxOutputBytes)
	}
	if c.maxResultBytes < 4 {
		return fmt.Errorf("max result bytes %d: must be at least 4", c.maxResultBytes)
	}
	if c.poolSize < 1 {
		return fmt.Errorf("pool size %d: must be positive", c.poolSize)
	}
	switch c.isolation {
	case IsolationInProcess:
	case IsolationProcess:
		if err := processIsolationSupported(); err != nil {
			return fmt.Errorf("isolation %q: %w", c.isolation, err)
		}
	default:
		return fmt.Errorf("isolation %q: want %q or %q", c.isolation, IsolationProcess, IsolationInProcess)
	}
	for d := range c.trusted {
		if len(d) != 64 || strings.Trim(d, "0123456789abcdef") != "" {
			return fmt.Errorf("trusted digest %q: want 64 lowercase hex digits (a sha256)", d)
		}
	}
	return nil
}
