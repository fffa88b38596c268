package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

func TestBuildNamesFileAfterDescription(t *testing.T) {
	root, err := testwasm.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	if err := run(context.Background(), log, "go", root, out, []string{"./plugins/seasonalnaive/wasm"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "seasonal-naive.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\x00asm")) {
		t.Fatal("output is not a WebAssembly module")
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d files in the output folder, want 1 (no temporary files left)", len(entries))
	}
}

func TestBuildFailureNamesPackage(t *testing.T) {
	root, err := testwasm.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), slog.New(slog.DiscardHandler), "go", root, t.TempDir(), []string{"./plugins/no-such-plugin/wasm"})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("build ./plugins/no-such-plugin/wasm")) {
		t.Fatalf("error %v does not name the package", err)
	}
}

func TestFindPlugins(t *testing.T) {
	root, err := testwasm.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := findPlugins(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pkgs, "./plugins/seasonalnaive/wasm") {
		t.Fatalf("found %v, want ./plugins/seasonalnaive/wasm among them", pkgs)
	}
	if slices.Contains(pkgs, "./plugins/builtin/wasm") {
		t.Fatal("the output folder (no Go files) was taken for a plugin")
	}
	if _, err := findPlugins(t.TempDir()); err == nil {
		t.Fatal("an empty folder has plugins")
	}
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.wasm", "old.wasm", "README.md"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := removeStale(slog.New(slog.DiscardHandler), dir, map[string]string{"a.wasm": "./plugins/a/wasm"}); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if !slices.Equal(left, []string{"README.md", "a.wasm"}) {
		t.Fatalf("left %v", left)
	}
}
