package runtime_test

import (
	"fmt"
	"os"
	"testing"
)

// compileCache is a compilation cache directory shared by the engines and
// runtimes of this test binary, so that each plugin compiles once.
var compileCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ppa-runtime-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compilation cache:", err)
		os.Exit(1)
	}
	compileCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
