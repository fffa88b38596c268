package testenv

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Child is a program a test started with Start: a control-plane component,
// or a container's command run as a local process. It is stopped and
// reaped when the test ends (after its log tail is printed if the test
// failed), and killed by the kernel if the test binary dies first.
type Child struct {
	name string
	mu   sync.Mutex
	proc *process
}

// Start starts path with args in dir, with env added to the test's
// environment, and registers its cleanup. It does not wait for readiness:
// poll WaitHTTP or the component's own API.
func Start(t testing.TB, name, path, dir string, args, env []string) *Child {
	t.Helper()
	p, err := startProcess(name, path, args, env, nil, dir)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	c := &Child{name: name, proc: p}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.Failed() || testing.Verbose() {
			t.Logf("%s log (tail):\n%s", name, tail(p.log.String()))
		}
		p.stop(stopTimeout)
	})
	return c
}

// Name is the name the child was started under.
func (c *Child) Name() string { return c.name }

// Stop sends SIGTERM, waits up to grace, then SIGKILLs, and reaps the
// process (a zero grace kills at once). Safe to call more than once.
func (c *Child) Stop(grace time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.proc.stop(grace)
}

// Exited reports whether the process has ended, and how.
func (c *Child) Exited() (bool, error) {
	if !c.proc.exited() {
		return false, nil
	}
	return true, c.proc.err
}

// Wait blocks until the process ends or timeout passes, and returns its
// exit error (nil for status 0).
func (c *Child) Wait(timeout time.Duration) error {
	select {
	case <-c.proc.done:
		return c.proc.err
	case <-time.After(timeout):
		return fmt.Errorf("%s still running after %v", c.name, timeout)
	}
}

// Log is the tail of the process's output (its last 40 lines).
func (c *Child) Log() string { return tail(c.proc.log.String()) }

// WaitHTTP polls url until it answers 200, failing if the child exits
// first or startTimeout passes.
func (c *Child) WaitHTTP(url string) error { return waitReady(c.proc, url) }
