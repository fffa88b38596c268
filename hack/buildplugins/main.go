// Command gen builds the built-in plugins: every Go package plugins/*/wasm
// (a plugin main calling sdk.Register) is compiled with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath
//
// loaded once with the engine to check it and read its name, and written to
// plugins/builtin/wasm/<name>.wasm, which package builtin embeds. Run it
// from the module root:
//
//	go run ./hack/buildplugins            # all plugins
//	go run ./hack/buildplugins ./plugins/seasonalnaive/wasm
//
// -root names the module root when running elsewhere; -out the output
// folder (default plugins/builtin/wasm under the root).
//
// .wasm files in the output folder that no plugin produced any more are
// removed when all plugins are built.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ppa-autoscaler/ppa/host/engine"
)

func main() {
	out := flag.String("out", filepath.Join("plugins", "builtin", "wasm"), "output folder, relative to -root")
	root := flag.String("root", ".", "module root")
	goTool := flag.String("go", "go", "the go command")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./hack/buildplugins [-out DIR] [./plugins/NAME/wasm ...]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(context.Background(), log, *goTool, *root, *out, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

// run builds pkgs (module-relative "./plugins/x/wasm" paths; all of them
// when empty) in the module at root and writes them to out (relative to
// root unless absolute).
func run(ctx context.Context, log *slog.Logger, goTool, root, out string, pkgs []string) error {
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	all := len(pkgs) == 0
	if all {
		var err error
		if pkgs, err = findPlugins(root); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	tmp, err := os.MkdirTemp("", "ppa-gen-")
	if err != nil {
		return fmt.Errorf("temp folder: %w", err)
	}
	defer os.RemoveAll(tmp)

	e, err := engine.New(ctx, engine.NewConfig().WithPoolSize(1))
	if err != nil {
		return err
	}
	defer e.Close(ctx)

	written := map[string]string{} // file name -> package
	for i, pkg := range pkgs {
		wasm, err := build(goTool, root, pkg, filepath.Join(tmp, fmt.Sprintf("%d.wasm", i)))
		if err != nil {
			return err
		}
		p, err := e.Load(ctx, wasm, "")
		if err != nil {
			return fmt.Errorf("%s: %w", pkg, err)
		}
		name := p.Description().Name
		file := name + ".wasm"
		if prev, ok := written[file]; ok {
			return fmt.Errorf("%s and %s both describe themselves as %q", prev, pkg, name)
		}
		written[file] = pkg
		dst := filepath.Join(out, file)
		if err := writeAtomic(dst, wasm); err != nil {
			return err
		}
		log.Info("built plugin", "package", pkg, "name", name, "version", p.Description().Version,
			"file", dst, "bytes", len(wasm), "sha256", p.Digest())
		if err := p.Close(ctx); err != nil {
			return err
		}
	}
	if !all {
		return nil
	}
	return removeStale(log, out, written)
}

// findPlugins lists the plugins/*/wasm folders holding Go files.
func findPlugins(root string) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(root, "plugins", "*", "wasm"))
	if err != nil {
		return nil, fmt.Errorf("find plugins: %w", err)
	}
	var pkgs []string
	for _, d := range dirs {
		if gos, _ := filepath.Glob(filepath.Join(d, "*.go")); len(gos) > 0 {
			rel, err := filepath.Rel(root, d)
			if err != nil {
				return nil, fmt.Errorf("find plugins: %w", err)
			}
			pkgs = append(pkgs, "./"+filepath.ToSlash(rel))
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no plugins/*/wasm packages under %s: run from the module root or pass -root", root)
	}
	return pkgs, nil
}

// removeStale deletes the .wasm files in out that are not in keep.
func removeStale(log *slog.Logger, out string, keep map[string]string) error {
	entries, err := os.ReadDir(out)
	if err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	var stale []string
	for _, en := range entries {
		if strings.HasSuffix(en.Name(), ".wasm") && keep[en.Name()] == "" {
			stale = append(stale, en.Name())
		}
	}
	sort.Strings(stale)
	for _, f := range stale {
		if err := os.Remove(filepath.Join(out, f)); err != nil {
			return fmt.Errorf("remove stale plugin: %w", err)
		}
		log.Info("removed stale plugin", "file", filepath.Join(out, f))
	}
	return nil
}

func build(goTool, root, pkg, dst string) ([]byte, error) {
	cmd := exec.Command(goTool, "build", "-buildmode=c-shared", "-trimpath", "-o", dst, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build %s: %w\n%s", pkg, err, buf.String())
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", pkg, err)
	}
	return b, nil
}

// writeAtomic writes b to path through a temporary file in the same folder,
// so that a build embedding the folder never sees half a module.
func writeAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".gen-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
