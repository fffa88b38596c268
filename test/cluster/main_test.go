package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// ppaBinaries are the programs of PPA's four images (ko builds each image
// from the same main package).
var ppaBinaries = []string{"ppa-controller", "ppa-scaler", "ppa-runtime", "ppa-trainer"}

// binaries maps each program's name to its build for this test run.
var binaries map[string]string

// inPIDNamespace marks the re-executed test binary.
const inPIDNamespace = "PPA_CLUSTER_TEST_PID_NAMESPACE"

// TestMain runs the tests in a PID namespace of their own (on Linux), so
// that no component outlives them whatever happens: the test binary is the
// namespace's init, and when it ends — cleanups done, or killed by a
// timeout — the kernel kills every process left in it (envtest's etcd and
// kube-apiserver included, which have no parent-death signal). Then it
// builds PPA's binaries once, before any control plane starts.
func TestMain(m *testing.M) {
	if runtime.GOOS == "linux" && os.Getenv(inPIDNamespace) == "" {
		os.Exit(reexecInPIDNamespace())
	}
	dir, err := os.MkdirTemp("", "ppa-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster test:", err)
		os.Exit(1)
	}
	binaries = map[string]string{}
	for _, name := range ppaBinaries {
		out := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
		cmd.Dir = filepath.Join("..", "..")
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "cluster test: go build ./cmd/%s: %v\n%s", name, err, b)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		binaries[name] = out
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
