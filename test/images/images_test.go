//go:build linux

package images

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/test/testenv"
)

// nonroot is the image user the base image defines.
const nonroot = 65532

// smoke names, per image, the arguments of the call and a text its output
// must hold.
var smoke = map[string]struct {
	args []string
	want []string
}{
	"ppa-controller": {args: []string{"--help"}, want: []string{"-trainer-image", "-builtin-forecasters"}},
	"ppa-runtime":    {args: []string{"--help"}, want: []string{"-store", "-grpc-port"}},
	"ppa-scaler":     {args: []string{"--help"}, want: []string{"-runtime-address", "-grpc-port"}},
	"ppa-trainer":    {args: []string{"--help"}, want: []string{"Usage: ppa-trainer", "--store"}},
}

func TestImagesRunUnderRunc(t *testing.T) {
	_, out, runc := prepare(t)
	refs := readImagesTxt(t, filepath.Join(out, "images.txt"))
	if len(refs) != len(smoke) {
		t.Fatalf("images.txt lists %d images, want %d (%v)", len(refs), len(smoke), refs)
	}
	platform := "linux/" + runtime.GOARCH
	for name, c := range smoke {
		t.Run(name, func(t *testing.T) {
			idx, err := testenv.OpenImageLayout(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := idx.Digest, refs[name]; got != want {
				t.Errorf("layout index %s, images.txt says %s", got, want)
			}
			plats, err := idx.Platforms()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(plats, ",") != "linux/amd64,linux/arm64" {
				t.Errorf("platforms %v, want linux/amd64 and linux/arm64", plats)
			}
			img, err := idx.Image(platform)
			if err != nil {
				t.Fatal(err)
			}
			cfg := img.Config.Config
			if cfg.User != fmt.Sprintf("%d:%d", nonroot, nonroot) {
				t.Errorf("image user %q, want %d:%d", cfg.User, nonroot, nonroot)
			}
			bundle := t.TempDir()
			rootfs := filepath.Join(bundle, "rootfs")
			if err := img.Unpack(rootfs); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"etc/ssl/certs/ca-certificates.crt", "usr/share/zoneinfo/UTC", "etc/passwd"} {
				if fi, err := os.Stat(filepath.Join(rootfs, f)); err != nil || fi.Size() == 0 {
					t.Errorf("rootfs lacks /%s (%v)", f, err)
				}
			}
			args := append(append([]string{}, cfg.Entrypoint...), c.args...)
			if err := writeRuncConfig(t, runc, bundle, args, cfg.Env, cfg.WorkingDir, nil); err != nil {
				t.Fatal(err)
			}
			got, err := runContainer(t, runc, bundle, name)
			if err != nil {
				t.Fatalf("runc run %s %v: %v\n%s", name, args, err, got)
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("%s %v: output lacks %q:\n%s", name, args, w, got)
				}
			}
		})
	}
}

// TestTrainerImageTrains: a real call, as a training pod makes it: the
// trainer image trains the built-in seasonal-naive plugin on a bundled trace
// into a store on a volume, as 65532, with a read-only root and /tmp an
// empty writable volume (the controller's Workflows mount one there).
func TestTrainerImageTrains(t *testing.T) {
	root, out, runc := prepare(t)
	idx, err := testenv.OpenImageLayout(filepath.Join(out, "ppa-trainer"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image("linux/" + runtime.GOARCH)
	if err != nil {
		t.Fatal(err)
	}
	bundle := t.TempDir()
	if err := img.Unpack(filepath.Join(bundle, "rootfs")); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	if err := os.Chown(store, nonroot, nonroot); err != nil {
		t.Fatal(err)
	}
	trace := filepath.Join(root, "testdata", "traces", "nasa-http-1m-14d.csv")
	mounts := []map[string]any{
		{"destination": "/data/trace.csv", "type": "bind", "source": trace, "options": []string{"rbind", "ro"}},
		{"destination": "/store", "type": "bind", "source": store, "options": []string{"rbind", "rw"}},
		{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "nodev", "mode=1777"}},
	}
	cfg := img.Config.Config
	args := append(append([]string{}, cfg.Entrypoint...), "--data", "/data/trace.csv", "--store", "/store",
		"--model", "shop/smoke", "--plugin", "seasonal-naive", "--result-file", "/tmp/result.json")
	if err := writeRuncConfig(t, runc, bundle, args, cfg.Env, cfg.WorkingDir, mounts); err != nil {
		t.Fatal(err)
	}
	got, err := runContainer(t, runc, bundle, "ppa-trainer-train")
	if err != nil {
		t.Fatalf("ppa-trainer in its image: %v\n%s", err, got)
	}
	if !strings.Contains(got, `"version"`) || !strings.Contains(got, `"model": "shop/smoke"`) && !strings.Contains(got, `"model":"shop/smoke"`) {
		t.Errorf("no training result for shop/smoke in the output:\n%s", got)
	}
	versions, err := filepath.Glob(filepath.Join(store, "models", "shop", "smoke", "*", "manifest.json"))
	if err != nil || len(versions) != 1 {
		t.Errorf("store holds %v (%v), want one version of shop/smoke", versions, err)
	}
}

// prepare checks that runc can run here and builds the images: the
// checkout's root, the layouts' folder and runc's path.
func prepare(t *testing.T) (root, out, runc string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("runc needs root here (no rootless setup): run the test as root, as CI does")
	}
	root = repoRoot(t)
	out = buildImages(t, root)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Fatalf("runc not found: run 'make deps' (test/scripts/install-imagetools.sh installs the Debian package): %v", err)
	}
	return root, out, runc
}

// buildImages builds the images (testenv.BuildImages) or fails the test.
func buildImages(t *testing.T, root string) string {
	t.Helper()
	out, summary, err := testenv.BuildImages(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("hack/images.sh: %s", summary)
	return out
}

// writeRuncConfig writes bundle/config.json: runc's default spec, changed to
// run args as the image user with the image's environment, a read-only
// root file system, no terminal, and mounts (OCI mount objects) added.
func writeRuncConfig(t *testing.T, runc, bundle string, args, env []string, cwd string, mounts []map[string]any) error {
	t.Helper()
	cmd := exec.Command(runc, "spec", "--bundle", bundle)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %w: %s", err, out)
	}
	path := filepath.Join(bundle, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read runc spec: %w", err)
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("decode runc spec: %w", err)
	}
	if cwd == "" {
		cwd = "/"
	}
	proc, ok := spec["process"].(map[string]any)
	if !ok {
		return fmt.Errorf("runc spec has no process object")
	}
	proc["terminal"] = false
	proc["args"] = args
	proc["env"] = env
	proc["cwd"] = cwd
	proc["user"] = map[string]any{"uid": nonroot, "gid": nonroot}
	spec["root"] = map[string]any{"path": "rootfs", "readonly": true}
	if len(mounts) > 0 {
		base, _ := spec["mounts"].([]any)
		for _, m := range mounts {
			base = append(base, m)
		}
		spec["mounts"] = base
	}
	raw, err = json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("encode runc config: %w", err)
	}
	return os.WriteFile(path, raw, 0o644)
}

// runContainer runs the bundle with runc and returns its combined output;
// the container is deleted in any case.
func runContainer(t *testing.T, runc, bundle, name string) (string, error) {
	t.Helper()
	state := t.TempDir()
	id := fmt.Sprintf("ppa-smoke-%s-%d", name, os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, runc, "--root", state, "run", "--bundle", bundle, id)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if del, derr := exec.Command(runc, "--root", state, "delete", "--force", id).CombinedOutput(); derr != nil &&
		!strings.Contains(string(del), "does not exist") {
		t.Logf("runc delete %s: %v: %s", id, derr, del)
	}
	return out.String(), err
}

// readImagesTxt reads hack/images.sh's list "REPO/NAME:TAG DIGEST" into a
// map from NAME to DIGEST.
func readImagesTxt(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read images list: %v", err)
	}
	refs := map[string]string{}
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		ref, digest, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("%s:%d: want \"REF DIGEST\", got %q", path, i+1, line)
		}
		base := ref[strings.LastIndex(ref, "/")+1:]
		name, _, _ := strings.Cut(base, ":")
		refs[name] = digest
	}
	return refs
}

// repoRoot is the module root: the directory of go.mod above this package.
func repoRoot(t *testing.T) string {
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
