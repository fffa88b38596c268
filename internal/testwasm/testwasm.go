// Package testwasm builds Go packages into WebAssembly plugin modules for
// tests: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
//
// Each package is built at most once per test binary run; later calls
// return the same bytes. Builds go through the ordinary Go build cache, so
// a package that did not change links again in well under a second.
package testwasm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

type result struct {
	once sync.Once
	wasm []byte
	err  error
}

var (
	mu      sync.Mutex
	results = map[string]*result{}

	rootOnce sync.Once
	root     string
	rootErr  error
)

// Build compiles the main package pkg (a path relative to the module root,
// such as "./plugins/seasonalnaive/wasm") for wasip1 as a reactor module
// and returns the .wasm bytes. It fails t when the build fails, with the
// compiler's output. The returned slice is shared: do not modify it.
func Build(t testing.TB, pkg string) []byte {
	t.Helper()
	wasm, err := build(pkg)
	if err != nil {
		t.Fatalf("testwasm: %v", err)
	}
	return wasm
}

// Bytes is Build for code without a testing.TB (examples, TestMain): it
// returns the build error instead of failing a test.
func Bytes(pkg string) ([]byte, error) { return build(pkg) }

func build(pkg string) ([]byte, error) {
	key := filepath.ToSlash(filepath.Clean(pkg))
	mu.Lock()
	r, ok := results[key]
	if !ok {
		r = &result{}
		results[key] = r
	}
	mu.Unlock()
	r.once.Do(func() { r.wasm, r.err = compile(key) })
	return r.wasm, r.err
}

// ModuleRoot returns the directory of the main module's go.mod.
func ModuleRoot() (string, error) {
	rootOnce.Do(func() {
		out, err := exec.Command(goTool(), "env", "GOMOD").Output()
		if err != nil {
			rootErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		gomod := strings.TrimSpace(string(out))
		if gomod == "" || gomod == os.DevNull {
			rootErr = fmt.Errorf("go env GOMOD: not inside a module")
			return
		}
		root = filepath.Dir(gomod)
	})
	return root, rootErr
}

func compile(pkg string) ([]byte, error) {
	dir, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "testwasm-")
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", pkg, err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "plugin.wasm")
	if !strings.HasPrefix(pkg, ".") && !filepath.IsAbs(pkg) {
		pkg = "./" + pkg
	}
	cmd := exec.Command(goTool(), "build", "-buildmode=c-shared", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build %s: %w\n%s", pkg, err, stderr.String())
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", pkg, err)
	}
	return wasm, nil
}

// goTool returns the go command of the toolchain running the tests when it
// can be found, else "go" from PATH.
func goTool() string {
	if goroot := os.Getenv("GOROOT"); goroot != "" {
		p := filepath.Join(goroot, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}
