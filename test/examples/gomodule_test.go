package examples_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/host/conformance"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

// The guest side's modules and their folders in this repository: the ABI,
// and the Go plugin SDK that implements it.
var guestModules = []struct{ path, dir string }{
	{"github.com/ppa-autoscaler/ppa/abi", "abi"},
	{"github.com/ppa-autoscaler/ppa/plugins/sdk", filepath.Join("plugins", "sdk")},
}

// TestGoPluginModuleNeedsOnlyTheSDK builds the Go example plugin the way a
// plugin author does: its module copied out of the repository, requiring
// only the SDK and ABI modules (replaced by this checkout's folders), with
// the module proxy off. Its module graph must hold those two and nothing
// else — no Kubernetes, KServe, Argo or gRPC module of the host — and the
// resulting .wasm must pass the conformance suite.
func TestGoPluginModuleNeedsOnlyTheSDK(t *testing.T) {
	root, err := testwasm.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "plugins", "examples", "go")
	dir := filepath.Join(t.TempDir(), "drift")
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatalf("copy the example module: %v", err)
	}
	goCmd := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		// No workspace, no proxy, no toolchain download: everything must
		// come from the module itself and the guest modules' folders.
		cmd.Env = append(os.Environ(), append([]string{"GOWORK=off", "GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly"}, env...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return string(out)
	}
	want := []string{"example.com/drift"}
	for _, m := range guestModules {
		goCmd(nil, "mod", "edit", "-replace", m.path+"="+filepath.Join(root, m.dir))
		want = append(want, m.path)
	}

	mods := strings.Split(strings.TrimSpace(goCmd(nil, "list", "-m", "-f", "{{.Path}}", "all")), "\n")
	if !slices.Equal(mods, want) {
		var host []string
		for _, m := range mods {
			for _, heavy := range []string{"k8s.io/", "github.com/kserve/", "github.com/argoproj/", "google.golang.org/grpc"} {
				if strings.HasPrefix(m, heavy) {
					host = append(host, m)
				}
			}
		}
		t.Fatalf("the plugin's module graph (go list -m all) is %q, want %q; host modules among them: %q", mods, want, host)
	}

	wasmPath := filepath.Join(t.TempDir(), "drift.wasm")
	goCmd([]string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"}, "build", "-buildmode=c-shared", "-o", wasmPath, ".")
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	r := conformance.Run(context.Background(), newEngine(t, engine.NewConfig().WithPoolSize(1)), wasm)
	if !r.Passed() {
		t.Fatalf("the Go example plugin does not conform:\n%s", r.String())
	}
	if r.Plugin != "drift-go" {
		t.Fatalf("plugin name %q, want drift-go", r.Plugin)
	}
}
