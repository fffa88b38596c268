package engine

import (
	"errors"
	"fmt"
	"strings"
)

// Failure classifies a plugin call that failed for a reason other than an
// ABI status the plugin returned (those are *abi.Error).
type Failure string

// Failure values. Except FailureClosed, each means the instance that ran the
// call was discarded.
const (
	// FailureTimeout: the call timeout or the caller's deadline passed; the
	// guest was stopped. The error wraps context.DeadlineExceeded.
	FailureTimeout Failure = "timeout"
	// FailureCanceled: the caller's context was canceled; the guest was
	// stopped. The error wraps context.Canceled.
	FailureCanceled Failure = "canceled"
	// FailureExit: the guest called proc_exit (a Go plugin does so when its
	// runtime dies: an unrecovered panic, running out of memory).
	FailureExit Failure = "exit"
	// FailureTrap: the guest trapped (unreachable, out-of-bounds access,
	// stack overflow, a host function such as env.abort failing).
	FailureTrap Failure = "trap"
	// FailureProtocol: the guest broke the ABI: a result outside its
	// memory, larger than the limit or not decodable, ppa_alloc failing.
	FailureProtocol Failure = "protocol"
	// FailureCrash: the worker process running the call died by itself
	// (RLIMIT_AS or RLIMIT_CPU reached, a fault outside the guest); see
	// IsolationProcess. The worker is replaced on the next call.
	FailureCrash Failure = "crash"
	// FailureClosed: the plugin or engine was closed.
	FailureClosed Failure = "closed"
)

// ErrClosed is wrapped by errors from calls on a closed Plugin or Engine.
var ErrClosed = errors.New("closed")

// outputInError bounds how much captured output an error message carries;
// CallError.Output keeps all that was captured.
const outputInError = 1 << 10

// CallError is the error of a plugin call that failed for a reason other
// than an ABI status. Use errors.As to inspect it; errors.Is(err,
// context.DeadlineExceeded) holds for timeouts.
type CallError struct {
	// Plugin names the plugin: "name version (sha256 prefix)".
	Plugin string
	// Method is the export called, e.g. "ppa_train".
	Method string
	// Failure classifies the failure.
	Failure Failure
	// ExitCode is the proc_exit code when Failure is FailureExit.
	ExitCode uint32
	// Detail says what happened, in words.
	Detail string
	// Output is the tail of the guest's stdout and stderr during the call.
	Output string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error. It ends with the captured output, shortened to
// its first and last half KiB.
func (e *CallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugin %s: %s: %s", e.Plugin, e.Method, e.Detail)
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Output != "" {
		fmt.Fprintf(&b, "; plugin output: %q", shorten(e.Output, outputInError))
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *CallError) Unwrap() error { return e.Err }
