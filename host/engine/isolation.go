package engine

import "fmt"

// Isolation is how an engine runs the modules it does not trust (see
// Config.WithIsolation).
type Isolation string

// Isolation values.
const (
	// IsolationProcess runs every instance of an untrusted module in a
	// worker process: the engine's own binary re-executed, with the
	// module compiled without termination checks (at trusted speed), an
	// address-space limit, a CPU-time limit, no new files, sockets or
	// processes (a seccomp filter) and death with the host. The host kills
	// a worker whose call overruns its time limit, and restarts it on the
	// next call.
	IsolationProcess Isolation = "process"
	// IsolationInProcess runs untrusted modules in the caller's process,
	// compiled with wazero's termination checks so that a deadline can
	// stop them; loop-heavy guests run several times slower.
	IsolationInProcess Isolation = "in-process"
)

// DefaultWorkerOverhead is the default address space a worker process may
// use beyond its guest's memory limit (see Config.WithWorkerAddressSpace):
// 3 GiB, which covers the Go runtime's reservations, the compiled code and
// a linear memory that is copied as it grows.
const DefaultWorkerOverhead = 3 << 30

// DefaultIsolation returns IsolationProcess where this platform supports
// worker processes (Linux) and IsolationInProcess elsewhere.
func DefaultIsolation() Isolation {
	if processIsolationSupported() == nil {
		return IsolationProcess
	}
	return IsolationInProcess
}

// RunMode says how a loaded module runs; it is recorded in model
// manifests and shown in the runtime's model metadata.
type RunMode string

// RunMode values.
const (
	// RunTrustedInProcess: a trusted module (a built-in plugin of this
	// build, or any module on an engine built WithInterruptible(false)) runs
	// in the caller's process without termination checks.
	RunTrustedInProcess RunMode = "trusted-inprocess"
	// RunSandboxedInProcess: an untrusted module runs in the caller's
	// process with wazero's termination checks (IsolationInProcess).
	RunSandboxedInProcess RunMode = "sandboxed-inprocess"
	// RunSandboxedProcess: an untrusted module runs in worker processes
	// (IsolationProcess).
	RunSandboxedProcess RunMode = "sandboxed-process"
)

// RunModeFor returns how the engine runs a module whose lowercase hex
// sha256 is digest.
func (e *Engine) RunModeFor(digest string) RunMode {
	switch {
	case e.cfg.uninterruptible, e.cfg.trusted[digest]:
		return RunTrustedInProcess
	case e.cfg.isolation == IsolationProcess:
		return RunSandboxedProcess
	}
	return RunSandboxedInProcess
}

// RunMode returns how the plugin runs.
func (p *Plugin) RunMode() RunMode { return p.s.mode }

// String implements fmt.Stringer and pflag.Value.
func (i Isolation) String() string { return string(i) }

// Set implements pflag.Value (and flag.Value), so that an Isolation can be
// a command-line flag: "process", "in-process", or "auto" for
// DefaultIsolation.
func (i *Isolation) Set(s string) error {
	switch v := Isolation(s); v {
	case "auto":
		*i = DefaultIsolation()
	case IsolationProcess:
		if err := processIsolationSupported(); err != nil {
			return err
		}
		*i = v
	case IsolationInProcess:
		*i = v
	default:
		return fmt.Errorf("isolation %q: want %s, %s or auto", s, IsolationProcess, IsolationInProcess)
	}
	return nil
}

// Type implements pflag.Value.
func (i *Isolation) Type() string { return "isolation" }

// IsolationUsage describes an isolation flag, for help texts.
const IsolationUsage = "how plugins that are not built in run: process (a sandboxed worker process at full speed, the default on Linux), " +
	"in-process (with wazero's termination checks, several times slower) or auto"
