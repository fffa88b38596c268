package chart

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/yaml"
)

// Release and namespace of every rendering.
const (
	release   = "ppa"
	namespace = "ppa-system"
)

// repoRoot is the module root: the directory of go.mod above this package.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("working directory: %v", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// chartDir is charts/ppa.
func chartDir(t testing.TB) string { return filepath.Join(repoRoot(t), "charts", "ppa") }

// helmPath finds helm in $PPA_TEST_BIN (default
// ${XDG_CACHE_HOME:-$HOME/.cache}/ppa-test/bin), then on PATH; it fails the
// test, naming the install script, when there is none.
func helmPath(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("PPA_TEST_BIN")
	if bin == "" {
		cache, err := os.UserCacheDir()
		if err == nil {
			bin = filepath.Join(cache, "ppa-test", "bin")
		}
	}
	if bin != "" {
		p := filepath.Join(bin, "helm")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	t.Fatalf("helm not found in %q nor on PATH: run test/scripts/install-helm.sh (it builds helm from the Go module proxy into $PPA_TEST_BIN)", bin)
	return ""
}

// runHelm runs helm with args and returns its stdout; a failure is
// returned with stderr in the error.
func runHelm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmPath(t), args...)
	cmd.Dir = repoRoot(t)
	// A private helm home: no user repositories, plugins or caches.
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// render runs helm template on the chart with the given extra arguments
// (-f FILE, --set ...) and parses the objects.
func render(t testing.TB, extra ...string) []object {
	t.Helper()
	args := append([]string{"template", release, chartDir(t), "--namespace", namespace}, extra...)
	out, err := runHelm(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseObjects(out)
	if err != nil {
		t.Fatalf("helm template %v: %v", extra, err)
	}
	return objs
}

// object is one rendered Kubernetes object.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	// Raw is the document as helm rendered it.
	Raw []byte `json:"-"`
	// Source is helm's "# Source:" comment: the template file.
	Source string `json:"-"`
}

// id is KIND/NAMESPACE/NAME.
func (o object) id() string { return o.Kind + "/" + o.Metadata.Namespace + "/" + o.Metadata.Name }

var (
	docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)
	sourceLine   = regexp.MustCompile(`(?m)^# Source: (.+)$`)
)

// parseObjects splits helm's multi-document output and decodes each
// document's type and metadata; documents with only comments are dropped.
func parseObjects(out string) ([]object, error) {
	var objs []object
	for i, doc := range docSeparator.Split(out, -1) {
		body := strings.TrimSpace(sourceLine.ReplaceAllString(doc, ""))
		if body == "" {
			continue
		}
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			return nil, fmt.Errorf("document %d: %w\n%s", i, err, doc)
		}
		if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
			return nil, fmt.Errorf("document %d: no apiVersion, kind or name:\n%s", i, doc)
		}
		o.Raw = []byte(doc)
		if m := sourceLine.FindStringSubmatch(doc); m != nil {
			o.Source = m[1]
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return nil, errors.New("no objects rendered")
	}
	return objs, nil
}

// find returns the one object of kind and name, failing the test when
// there is not exactly one.
func find(t testing.TB, objs []object, kind, name string) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.Kind == kind && o.Metadata.Name == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s %s: rendered %d times, want once", kind, name, len(found))
	}
	return found[0]
}

// decode decodes o strictly into v: a field the Go type does not know is
// an error, so that a misspelt field in a template fails the test.
func decode(t testing.TB, o object, v any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(o.Raw, v); err != nil {
		t.Fatalf("%s (%s): %v", o.id(), o.Source, err)
	}
}

// Binaries built from cmd/, once per test process.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// binaries names the commands whose flags the chart passes.
var binaries = []string{"ppa-controller", "ppa-runtime", "ppa-scaler", "ppa-trainer"}

// buildBinaries builds the binaries into a temporary directory (removed by
// TestMain) and returns it.
func buildBinaries(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "ppa-chart-bin-")
		if binErr != nil {
			return
		}
		args := []string{"build", "-o", binDir + string(filepath.Separator)}
		for _, b := range binaries {
			args = append(args, "./cmd/"+b)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = repoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// helpFlag matches a flag in the usage text of Go's flag package
// ("  -name type") and of pflag ("  -n, --name type").
var helpFlag = regexp.MustCompile(`(?m)^\s+(?:-[A-Za-z], )?--?([A-Za-z0-9][A-Za-z0-9-]*)\b`)

// flagNames runs the binary with --help and returns the flags its usage
// lists.
func flagNames(t testing.TB, bin string) map[string]bool {
	t.Helper()
	cmd := exec.Command(bin, "--help")
	cmd.Env = isolatedEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s --help: %v\n%s", filepath.Base(bin), err, out)
	}
	names := map[string]bool{}
	for _, m := range helpFlag.FindAllStringSubmatch(string(out), -1) {
		names[m[1]] = true
	}
	if len(names) < 3 {
		t.Fatalf("%s --help: found only %d flags in:\n%s", filepath.Base(bin), len(names), out)
	}
	return names
}

// isolatedEnv is an environment without Kubernetes, AWS or kubeconfig
// settings, with HOME in a temporary directory.
func isolatedEnv(t testing.TB) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "KUBECONFIG" || strings.HasPrefix(k, "KUBERNETES_") || strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "MINIO_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+t.TempDir())
}

// flagName returns NAME of an argument --NAME or --NAME=VALUE, or "".
func flagName(arg string) string {
	if !strings.HasPrefix(arg, "--") {
		return ""
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
	return name
}

// argValue returns the value of --name=VALUE in args and whether it is
// there (the last occurrence wins, as with the flag packages).
func argValue(args []string, name string) (string, bool) {
	v, ok := "", false
	for _, a := range args {
		if n, val, found := strings.Cut(strings.TrimPrefix(a, "--"), "="); found && strings.HasPrefix(a, "--") && n == name {
			v, ok = val, true
		}
	}
	return v, ok
}
