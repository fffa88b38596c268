//go:build linux

package engine

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/sys/unix"
)

// workerExe is what a worker process runs: this very binary, as the kernel
// knows it (a deleted or replaced file still works).
const workerExe = "/proc/self/exe"

// processIsolationSupported reports why worker processes cannot be used
// here, or nil.
var processIsolationSupported = sync.OnceValue(func() error {
	if _, err := os.Stat(workerExe); err != nil {
		return fmt.Errorf("worker processes need %s: %w", workerExe, err)
	}
	if !seccomp.Supported() {
		return errors.New("worker processes need seccomp, which this kernel does not offer")
	}
	if _, err := arch.GetInfo(""); err != nil {
		return fmt.Errorf("worker processes: seccomp filter: %w", err)
	}
	return nil
})

// workerSysProcAttr makes a worker die with the thread that started it
// (see startLocked) and keeps it out of the host's process group, so that
// a terminal's Ctrl-C reaches the host only.
func workerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// limitWorker applies the limits that hold from the start of a worker:
// its address space and no core dumps.
func limitWorker(cfg workerInit) error {
	if cfg.AddressSpace > 0 {
		if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: cfg.AddressSpace, Max: cfg.AddressSpace}); err != nil {
			return fmt.Errorf("RLIMIT_AS: %w", err)
		}
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("RLIMIT_CORE: %w", err)
	}
	return nil
}

// workerFiles is RLIMIT_NOFILE once a worker is locked down: the three
// standard descriptors, the two protocol pipes and the Go runtime's
// poller leave room below it, but nothing much more.
const workerFiles = 16

// lockDown is applied once the module is compiled (the compilation cache
// is the last file a worker touches): no descriptors beyond a few, no
// file growth, and a seccomp filter that allows only the system calls the
// Go runtime needs to run the compiled guest and talk over its pipes.
// Anything else — open, socket, connect, execve, fork, ptrace, kill, … —
// fails with EPERM, for every thread (TSYNC), for good (no_new_privs).
func lockDown() error {
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: workerFiles, Max: workerFiles}); err != nil {
		return fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{}); err != nil {
		return fmt.Errorf("RLIMIT_FSIZE: %w", err)
	}
	filter, err := workerFilter()
	if err != nil {
		return err
	}
	if err := seccomp.LoadFilter(filter); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}

// workerSyscalls are the system calls a locked-down worker may make
// without conditions: memory, signals, threads, time, the poller and I/O
// on descriptors it already holds. Names this architecture lacks are
// skipped.
var workerSyscalls = []string{
	// I/O on the pipes and standard descriptors it already has.
	"read", "write", "readv", "writev", "pread64", "pwrite64", "close", "fstat", "newfstatat", "lseek", "fcntl",
	// memory
	"mmap", "munmap", "mprotect", "madvise", "mremap", "brk", "mincore",
	// signals
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "tgkill", "tkill", "restart_syscall",
	// threads and scheduling
	"futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "arch_prctl", "set_tid_address",
	"sched_yield", "sched_getaffinity", "getpid", "gettid", "getppid", "exit", "exit_group", "membarrier",
	// time
	"nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time",
	// the Go runtime's poller
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd2",
	// accounting and entropy
	"getrusage", "getrlimit", "getrandom", "uname",
}

// workerFilter builds the seccomp filter of lockDown.
func workerFilter() (seccomp.Filter, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return seccomp.Filter{}, fmt.Errorf("seccomp: %w", err)
	}
	var names []string
	for _, n := range workerSyscalls {
		if _, ok := info.SyscallNames[n]; ok {
			names = append(names, n)
		}
	}
	cond := func(name string, cs ...seccomp.Condition) seccomp.NameWithConditions {
		return seccomp.NameWithConditions{Name: name, Conditions: cs}
	}
	arg := func(i uint32, op seccomp.Operation, v uint64) seccomp.Condition {
		return seccomp.Condition{Argument: i, Operation: op, Value: v}
	}
	allowed := []seccomp.NameWithConditions{
		// Threads, never processes.
		cond("clone", arg(0, seccomp.BitsSet, unix.CLONE_THREAD)),
		// Reading limits, and setting the CPU limit of the next call.
		cond("prlimit64", arg(2, seccomp.Equal, 0)),
		cond("prlimit64", arg(0, seccomp.Equal, 0), arg(1, seccomp.Equal, unix.RLIMIT_CPU)),
		cond("setrlimit", arg(0, seccomp.Equal, unix.RLIMIT_CPU)),
		// The Go runtime names its memory mappings.
		cond("prctl", arg(0, seccomp.Equal, unix.PR_SET_VMA)),
	}
	var conditional []seccomp.NameWithConditions
	for _, c := range allowed {
		if _, ok := info.SyscallNames[c.Name]; ok {
			conditional = append(conditional, c)
		}
	}
	groups := []seccomp.SyscallGroup{
		{Action: seccomp.ActionAllow, Names: names, NamesWithCondtions: conditional},
	}
	if _, ok := info.SyscallNames["clone3"]; ok {
		// clone3 hides its flags in memory a filter cannot read: ENOSYS
		// makes the C library fall back to clone, which is checked.
		groups = append(groups, seccomp.SyscallGroup{Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS), Names: []string{"clone3"}})
	}
	return seccomp.Filter{
		NoNewPrivs: true,
		Flag:       seccomp.FilterFlagTSync,
		Policy:     seccomp.Policy{DefaultAction: seccomp.ActionErrno, Syscalls: groups},
	}, nil
}

// setCallCPU lets the next call use about seconds of CPU time: the soft
// RLIMIT_CPU, whose SIGXCPU ends the worker (see runWorker), is moved to
// the time used so far plus seconds.
func setCallCPU(seconds uint64) error {
	if seconds == 0 {
		return nil
	}
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return fmt.Errorf("getrusage: %w", err)
	}
	used := uint64(ru.Utime.Sec + ru.Stime.Sec + 1)
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CPU, &lim); err != nil {
		return fmt.Errorf("RLIMIT_CPU: %w", err)
	}
	lim.Cur = min(used+seconds, lim.Max)
	if err := unix.Setrlimit(unix.RLIMIT_CPU, &lim); err != nil {
		return fmt.Errorf("RLIMIT_CPU: %w", err)
	}
	return nil
}

// cpuLimitSignal is the signal RLIMIT_CPU sends.
var cpuLimitSignal os.Signal = syscall.SIGXCPU

// lockThread pins the spawning goroutine to its thread: Pdeathsig fires
// when the thread that started a worker ends, so that thread must live as
// long as the process.
func lockThread() { runtime.LockOSThread() }

// setNoFile tries to raise RLIMIT_NOFILE, which a locked-down worker must
// not be able to do (used by a test).
func setNoFile() error {
	return unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 1024, Max: 1024})
}
