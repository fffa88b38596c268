package runtime_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ppa-autoscaler/ppa/host/store"
)

// copyVersion copies a model version from the env's local store into dir,
// as KServe's storage initializer would (model.bin first, the manifest
// last); withPlugin adds plugin.wasm beside it.
func copyVersion(t *testing.T, e *env, man store.Manifest, dir string, withPlugin bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, model, err := e.st.GetModel(ctx, man.Model, man.Version)
	if err != nil {
		t.Fatal(err)
	}
	if withPlugin {
		_, wasm, err := e.st.GetPlugin(ctx, man.Plugin.Name, man.Plugin.Version)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "plugin.wasm"), wasm)
	}
	writeFile(t, filepath.Join(dir, "model.bin"), model)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "manifest.json"), b)
}

// TestModelDir serves KServe's model directory layout: the plugin beside
// the model or from the store, and a new version copied over the old one
// is picked up.
func TestModelDir(t *testing.T) {
	e := newDirEnv(t)
	v1 := e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	v2 := e.model(seasonalNaivePkg, "cpu", "v0002", nil, 40, 10)
	now := e.clock.Now().Unix()
	wantDS := grid(now-now%60, 60, 31)

	for _, c := range []struct {
		name       string
		withPlugin bool
		store      bool
	}{
		{"plugin beside the model", true, false},
		{"plugin from the store", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mnt", "models")
			copyVersion(t, e, v1, dir, c.withPlugin)
			opts := e.options()
			opts.ModelDir = dir
			if !c.store {
				opts.StoreURI = ""
			}
			s := start(t, opts, true)
			got, err := s.restInfer("cpu", 1800, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkForecast(t, e, v1, got, wantDS)

			copyVersion(t, e, v2, dir, c.withPlugin)
			waitFor(t, "v0002 from the model directory", func() bool {
				f, err := s.restInfer("cpu", 1800, nil, nil)
				return err == nil && f.version == v2.Version
			})
			got, err = s.restInfer("cpu", 1800, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkForecast(t, e, v2, got, wantDS)

			// A corrupt copy is refused; v0002 keeps serving.
			bad := v2
			bad.Version = "v0003"
			b, _ := json.Marshal(bad)
			writeFile(t, filepath.Join(dir, "model.bin"), []byte("corrupt"))
			writeFile(t, filepath.Join(dir, "manifest.json"), b)
			waitFor(t, "the corrupt copy to be refused", func() bool {
				for _, st := range s.Models() {
					if strings.Contains(st.LastError, "sha256") {
						return true
					}
				}
				return false
			})
			got, err = s.restInfer("cpu", 1800, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkForecast(t, e, v2, got, wantDS)
		})
	}
}

// TestModelDirErrors covers a model directory the runtime cannot serve.
func TestModelDirErrors(t *testing.T) {
	e := newDirEnv(t)
	man := e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)

	t.Run("no plugin anywhere", func(t *testing.T) {
		dir := t.TempDir()
		copyVersion(t, e, man, dir, false)
		opts := e.options()
		opts.ModelDir, opts.StoreURI = dir, ""
		s := start(t, opts, false)
		waitFor(t, "the load to fail", func() bool {
			for _, st := range s.Models() {
				if strings.Contains(st.LastError, "no plugin.wasm beside the model") {
					return true
				}
			}
			return false
		})
		if r := s.get("/v2/health/ready"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("ready: %d", r.status)
		}
	})
	t.Run("plugin that does not match the manifest", func(t *testing.T) {
		dir := t.TempDir()
		copyVersion(t, e, man, dir, false)
		hostile := e.plugin(hostilePkg)
		_, wasm, err := e.st.GetPlugin(context.Background(), hostile.Name, hostile.Version)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "plugin.wasm"), wasm)
		opts := e.options()
		opts.ModelDir, opts.StoreURI = dir, ""
		s := start(t, opts, false)
		waitFor(t, "the load to fail", func() bool {
			for _, st := range s.Models() {
				if strings.Contains(st.LastError, "sha256 mismatch") {
					return true
				}
			}
			return false
		})
		if r := s.post("/v2/models/cpu/infer", inferBody(60, nil, nil)); r.status != http.StatusServiceUnavailable {
			t.Fatalf("infer: %d %s", r.status, r.body)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		opts := e.options()
		opts.ModelDir, opts.StoreURI = filepath.Join(t.TempDir(), "absent"), ""
		s := start(t, opts, false)
		if r := s.get("/v2/health/ready"); r.status != http.StatusServiceUnavailable {
			t.Fatalf("ready: %d", r.status)
		}
		if r := s.get("/v2/health/live"); r.status != http.StatusOK {
			t.Fatalf("live: %d", r.status)
		}
	})
}

// TestRepositoryExtension unloads and loads a model over REST.
func TestRepositoryExtension(t *testing.T) {
	e := newDirEnv(t)
	e.model(seasonalNaivePkg, "cpu", "v0001", nil, 100, 50)
	opts := e.options("cpu")
	opts.EnableRepository = true
	s := start(t, opts, true)
	for _, c := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/v2/repository/index", 200, `"state":"READY"`},
		{"POST", "/v2/repository/models/cpu/unload", 200, `"unload":"true"`},
		{"POST", "/v2/models/cpu/infer", 503, `unloaded`},
		{"GET", "/v2/models/cpu/ready", 503, `"ready":false`},
		{"POST", "/v2/repository/index", 200, `"state":"UNLOADED"`},
		{"POST", "/v2/repository/models/nope/unload", 404, `not served here`},
		{"POST", "/v2/repository/models/nope/load", 404, `not served here`},
		{"POST", "/v2/repository/models/cpu/load", 200, `"load":"true"`},
		{"GET", "/v2/models/cpu/ready", 200, `"ready":true`},
	} {
		var r httpResult
		if c.method == "GET" {
			r = s.get(c.path)
		} else {
			r = s.post(c.path, []byte(inferBodyIf(c.path)))
		}
		if r.status != c.status || !strings.Contains(string(r.body), c.body) {
			t.Fatalf("%s %s: %d %s, want %d with %s", c.method, c.path, r.status, r.body, c.status, c.body)
		}
	}
	if _, err := s.restInfer("cpu", 60, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func inferBodyIf(path string) string {
	if strings.HasSuffix(path, "/infer") {
		return string(inferBody(60, nil, nil))
	}
	return "{}"
}
