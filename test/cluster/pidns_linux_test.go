package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// reexecInPIDNamespace runs this test binary again, with the same
// arguments, as init of a new PID namespace (unshare(1) from util-linux),
// and returns its exit code. unshare dies with this process
// (parent-death signal) and kills its child when it dies (--kill-child).
func reexecInPIDNamespace() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster test:", err)
		return 1
	}
	cmd := exec.Command("unshare", append([]string{"--pid", "--fork", "--kill-child", "--", self}, os.Args[1:]...)...)
	cmd.Env = append(os.Environ(), inPIDNamespace+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "cluster test: run the tests in a PID namespace of their own (unshare --pid, util-linux; needs root or user namespaces): %v\n", err)
		return 1
	}
}
