// Package testenv starts real servers (MinIO, Prometheus) for tests.
//
// Every server runs as a child process of the test binary on free loopback
// ports, in a temporary directory, and is stopped and reaped by t.Cleanup.
// The programs are looked up in $PPA_TEST_BIN, then in
// ${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin, then on PATH; when one is
// missing the test fails with a hint to run test/scripts/install-deps.sh.
// Tests never skip because a server is unavailable.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// startTimeout bounds how long a server may take to become ready.
	startTimeout = 60 * time.Second
	// stopTimeout is how long a server gets to exit after SIGTERM before it
	// is killed.
	stopTimeout = 10 * time.Second
	// logLimit caps the server output kept in memory for failure reports.
	logLimit = 64 << 10
)

// installHint is appended to every "program not found" failure.
const installHint = "run test/scripts/install-deps.sh"

// BinDir returns the directory install-deps.sh installs programs into:
// $PPA_TEST_BIN, or ${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin.
func BinDir() string {
	if d := os.Getenv("PPA_TEST_BIN"); d != "" {
		return d
	}
	return defaultBinDir()
}

func defaultBinDir() string {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "ppa-test", "bin")
}

// LookBinary finds the program name in $PPA_TEST_BIN, the default cache
// directory, then PATH.
func LookBinary(name string) (string, error) {
	var dirs []string
	if d := os.Getenv("PPA_TEST_BIN"); d != "" {
		dirs = append(dirs, d)
	}
	if d := defaultBinDir(); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found in %s or PATH (%s)", name, strings.Join(dirs, ", "), installHint)
	}
	return p, nil
}

// Binary returns the path of the program name or fails the test with a hint
// to run test/scripts/install-deps.sh.
func Binary(t testing.TB, name string) string {
	t.Helper()
	p, err := LookBinary(name)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process can still take it before the caller binds it; the server
// helpers retry with fresh ports when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// limitedBuffer keeps the last logLimit bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - logLimit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(bytes.TrimSpace(b.buf))
}

// process is one running child process and the goroutine reaping it.
type process struct {
	name string
	cmd  *exec.Cmd
	log  *limitedBuffer
	done chan struct{} // closed once Wait returned
	err  error         // Wait's result, valid after done
}

// startProcess starts path with args and env (added to a copy of the
// current environment without variables whose names start with any of
// dropEnvPrefixes). Output goes to the returned process's log.
func startProcess(name, path string, args, env, dropEnvPrefixes []string, dir string) (*process, error) {
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		drop := false
		for _, p := range dropEnvPrefixes {
			drop = drop || strings.HasPrefix(kv, p)
		}
		if !drop {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	p := &process{name: name, cmd: cmd, log: &limitedBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	setProcAttr(cmd)
	// The parent-death signal (Linux) fires when the starting OS thread
	// exits, not the process; the Go runtime may retire threads. Start and
	// wait from one goroutine locked to its thread, so the thread lives
	// exactly as long as the child.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return p, nil
}

// exited reports whether the process has already exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to timeout, then SIGKILLs, and always waits
// until the process is reaped. A zero timeout kills at once.
func (p *process) stop(timeout time.Duration) {
	if p.exited() {
		return
	}
	if timeout > 0 {
		// An error here means the process is already gone; Wait reaps it.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(timeout):
		}
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// errPortInUse marks a start that failed because a port was taken between
// FreePort and the server binding it.
var errPortInUse = errors.New("address already in use")

// waitReady polls url until it answers 200, the process exits, or
// startTimeout passes.
func waitReady(p *process, url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			out := p.log.String()
			if strings.Contains(out, "address already in use") {
				return fmt.Errorf("%s exited: %w:\n%s", p.name, errPortInUse, tail(out))
			}
			return fmt.Errorf("%s exited before it was ready (%v):\n%s", p.name, p.err, tail(out))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			cancel()
			return fmt.Errorf("readiness request %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		cancel()
		last = err
		time.Sleep(25 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready at %s after %v (last: %v):\n%s", p.name, url, startTimeout, last, tail(p.log.String()))
}

// tail returns the last 40 lines of s.
func tail(s string) string {
	lines := strings.Split(s, "\n")
	if len(lines) > 40 {
		lines = append([]string{"..."}, lines[len(lines)-40:]...)
	}
	return strings.Join(lines, "\n")
}
