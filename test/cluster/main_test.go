package cluster

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// ppaBinaries are PPA's four images, each named after its program.
var ppaBinaries = []string{"ppa-controller", "ppa-scaler", "ppa-runtime", "ppa-trainer"}

// binaries maps each program's name to its build for this test run.
var binaries map[string]string

// inPIDNamespace marks the re-executed test binary.
const inPIDNamespace = "PPA_CLUSTER_TEST_PID_NAMESPACE"

// imageBinaries builds PPA's images (a no-op when make images already did)
// and unpacks each one's linux image for this machine's architecture under
// dir: the programs the test runs are the images' own entrypoints.
func imageBinaries(dir string) (map[string]string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return nil, err
	}
	layouts, summary, err := testenv.BuildImages(root)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(os.Stderr, "cluster test: images:", summary)
	out := map[string]string{}
	for _, name := range ppaBinaries {
		idx, err := testenv.OpenImageLayout(filepath.Join(layouts, name))
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		img, err := idx.Image("linux/" + runtime.GOARCH)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		ep := img.Config.Config.Entrypoint
		if len(ep) == 0 {
			return nil, fmt.Errorf("image %s has no entrypoint", name)
		}
		rootfs := filepath.Join(dir, name)
		if err := img.Unpack(rootfs); err != nil {
			return nil, fmt.Errorf("image %s: %w", name, err)
		}
		out[name] = filepath.Join(rootfs, ep[0])
	}
	return out, nil
}

// TestMain runs the tests in a PID namespace of their own (on Linux), so
// that no component outlives them whatever happens: the test binary is the
// namespace's init, and when it ends — cleanups done, or killed by a
// timeout — the kernel kills every process left in it (envtest's etcd and
// kube-apiserver included, which have no parent-death signal). Then it
// takes PPA's binaries out of PPA's images, once, before any control plane
// starts.
func TestMain(m *testing.M) {
	if runtime.GOOS == "linux" && os.Getenv(inPIDNamespace) == "" {
		os.Exit(reexecInPIDNamespace())
	}
	dir, err := os.MkdirTemp("", "ppa-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster test:", err)
		os.Exit(1)
	}
	if binaries, err = imageBinaries(dir); err != nil {
		fmt.Fprintln(os.Stderr, "cluster test:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
