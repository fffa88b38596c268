package modelset

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/host/store"
)

// writeVersion writes a model version directory.
func writeVersion(t *testing.T, dir, ns, name, version string, model []byte, sha string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if sha == "" {
		sha = sha256Hex(model)
	}
	m := store.Manifest{Model: store.ModelRef{Namespace: ns, Name: name}, Version: version, ModelSHA256: sha,
		Plugin: store.PluginRef{Name: "p", Version: "1", SHA256: sha256Hex([]byte("wasm"))}}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ModelFile), model, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDirSource(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	writeVersion(t, root, "ns", "single", "v1", []byte("s"), "")
	writeVersion(t, filepath.Join(root, "models/ns/cpu/v1"), "ns", "cpu", "v1", []byte("a"), "")
	writeVersion(t, filepath.Join(root, "models/ns/cpu/v2"), "ns", "cpu", "v2", []byte("b"), "")
	writeVersion(t, filepath.Join(root, "models/other/cpu/v9"), "other", "cpu", "v9", []byte("c"), "")
	writeVersion(t, filepath.Join(root, "models/ns/tampered/v1"), "ns", "tampered", "v1", []byte("d"), sha256Hex([]byte("not d")))
	writeVersion(t, filepath.Join(root, ".hidden/x"), "ns", "hidden", "v1", []byte("e"), "")
	if err := os.MkdirAll(filepath.Join(root, "broken"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "broken", ManifestFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}

	src, err := NewDirSource(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	wants, err := src.Resolve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Want{}
	var problems []string
	for _, w := range wants {
		if w.Err != nil {
			problems = append(problems, w.Err.Error())
			continue
		}
		got[w.Name] = w
	}
	if len(got) != 3 || got["single"].Version != "v1" || got["cpu"].Version != "v2" || got["tampered"].Version != "v1" {
		t.Fatalf("resolved %+v", got)
	}
	joined := strings.Join(problems, "\n")
	if !strings.Contains(joined, "same name as model ns/cpu") && !strings.Contains(joined, "same name as model other/cpu") {
		t.Errorf("no conflict reported for two models named cpu: %s", joined)
	}
	if !strings.Contains(joined, filepath.Join("broken", ManifestFile)) {
		t.Errorf("unreadable manifest not reported: %s", joined)
	}
	if strings.Contains(joined, "hidden") {
		t.Errorf("a hidden directory was read: %s", joined)
	}

	art, err := src.FetchModel(ctx, got["cpu"])
	if err != nil || string(art.Model) != "b" {
		t.Fatalf("fetch cpu: %q %v", art.Model, err)
	}
	if _, err := src.FetchModel(ctx, got["tampered"]); !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("fetch tampered: %v", err)
	}
	if _, err := src.FetchPlugin(ctx, got["cpu"], art.Manifest); err == nil || !strings.Contains(err.Error(), "no plugin.wasm beside the model") {
		t.Fatalf("fetch plugin without one: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "models/ns/cpu/v2", PluginFile), []byte("wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := src.FetchPlugin(ctx, got["cpu"], art.Manifest); err != nil || string(b) != "wasm" {
		t.Fatalf("fetch plugin beside: %q %v", b, err)
	}

	// A manifest rewritten between Resolve and FetchModel is noticed.
	writeVersion(t, filepath.Join(root, "models/ns/cpu/v2"), "ns", "cpu", "v3", []byte("b"), "")
	if _, err := src.FetchModel(ctx, got["cpu"]); err == nil || !strings.Contains(err.Error(), "changed while loading") {
		t.Fatalf("fetch after a rewrite: %v", err)
	}
}

func TestStoreSourceRejectsDuplicateNames(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	specs := []ModelSpec{{Ref: store.ModelRef{Namespace: "a", Name: "cpu"}}, {Ref: store.ModelRef{Namespace: "b", Name: "cpu"}}}
	if _, err := NewStoreSource(st, specs, true); err == nil || !strings.Contains(err.Error(), `share the name "cpu"`) {
		t.Fatalf("duplicate names: %v", err)
	}
	if _, err := NewStoreSource(st, nil, true); err == nil {
		t.Fatal("no models accepted")
	}
}
