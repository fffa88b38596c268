package modelset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ppa-autoscaler/ppa/host/store"
)

// File names of a model version directory (the layout of the store and of
// KServe's model directory, /mnt/models).
const (
	// ManifestFile is the model version's manifest (store.Manifest as JSON).
	ManifestFile = "manifest.json"
	// ModelFile holds the model bytes.
	ModelFile = "model.bin"
	// PluginFile, when present beside the model, is the plugin's wasm; it
	// takes precedence over the store.
	PluginFile = "plugin.wasm"
)

// Want is one model a Source serves and the version it should serve now.
type Want struct {
	// Name is the model's name in the inference protocol.
	Name string
	// Ref is the model's namespace and name.
	Ref store.ModelRef
	// Version is the version to serve; empty when Err is set.
	Version string
	// Err, when set, says why no version can be chosen now (for example the
	// model has no version yet). A loaded version keeps serving.
	Err error

	// dir is the model version directory, for a DirSource.
	dir string
}

// Artifact is what loading a model version needs: its manifest and bytes.
type Artifact struct {
	Manifest store.Manifest
	Model    []byte
}

// Source says which models exist and which version of each to serve, and
// fetches them. Implementations are safe for concurrent use.
type Source interface {
	// Resolve lists the models to serve with the version each should serve
	// now. It fails as a whole only when nothing can be listed; problems
	// with one model go in that Want's Err.
	Resolve(ctx context.Context) ([]Want, error)
	// FetchModel returns the manifest and verified model bytes of w.
	FetchModel(ctx context.Context, w Want) (Artifact, error)
	// FetchPlugin returns the wasm of the plugin a manifest names. The
	// caller verifies its digest.
	FetchPlugin(ctx context.Context, w Want, m store.Manifest) ([]byte, error)
	// String names the source for messages.
	String() string
}

// Fallbacker is implemented by sources that can name older versions of a
// model. When the version Resolve chose fails to load and no version of the
// model is serving (after a restart, say), the set tries these in order and
// serves the first that loads, rather than nothing.
type Fallbacker interface {
	// Fallbacks returns the versions of w's model older than w.Version that
	// could serve instead, newest first (none for a pinned version).
	Fallbacks(ctx context.Context, w Want) ([]Want, error)
}

// MaxFallbacks bounds how many older versions Fallbacks offers.
const MaxFallbacks = 5

// ModelSpec is one model to serve from a store: NAMESPACE/NAME, optionally
// pinned to a version.
type ModelSpec struct {
	Ref store.ModelRef
	// Version pins a version; empty follows the newest (accepted) one.
	Version string
}

// String renders the spec as NAMESPACE/NAME[@VERSION].
func (s ModelSpec) String() string {
	if s.Version == "" {
		return s.Ref.String()
	}
	return s.Ref.String() + "@" + s.Version
}

// ParseModelSpec parses NAMESPACE/NAME[@VERSION]; a bare NAME[@VERSION]
// takes defaultNamespace (when that is not empty).
func ParseModelSpec(s, defaultNamespace string) (ModelSpec, error) {
	refPart, version, pinned := strings.Cut(s, "@")
	if pinned && version == "" {
		return ModelSpec{}, fmt.Errorf("model %q: empty version after @", s)
	}
	if !strings.Contains(refPart, "/") {
		if defaultNamespace == "" {
			return ModelSpec{}, fmt.Errorf("model %q: want NAMESPACE/NAME[@VERSION]", s)
		}
		refPart = defaultNamespace + "/" + refPart
	}
	ref, err := store.ParseModelRef(refPart)
	if err != nil {
		return ModelSpec{}, err
	}
	return ModelSpec{Ref: ref, Version: version}, nil
}

// StoreSource serves a fixed list of models from a store, following each
// model's newest version (or its newest accepted version) unless pinned.
type StoreSource struct {
	st           store.Store
	specs        []ModelSpec
	acceptedOnly bool
}

// NewStoreSource returns a source for specs in st. With acceptedOnly, a
// version the quality gate rejected is never chosen (unless pinned). Two
// specs may not share a name: the protocol's model name is the model's name.
func NewStoreSource(st store.Store, specs []ModelSpec, acceptedOnly bool) (*StoreSource, error) {
	if st == nil {
		return nil, errors.New("store source: no store")
	}
	if len(specs) == 0 {
		return nil, errors.New("store source: no models")
	}
	seen := map[string]ModelSpec{}
	for _, s := range specs {
		if err := s.Ref.Validate(); err != nil {
			return nil, fmt.Errorf("store source: %w", err)
		}
		if prev, dup := seen[s.Ref.Name]; dup {
			return nil, fmt.Errorf("store source: models %s and %s share the name %q, which the inference protocol uses to address them", prev, s, s.Ref.Name)
		}
		seen[s.Ref.Name] = s
	}
	return &StoreSource{st: st, specs: append([]ModelSpec(nil), specs...), acceptedOnly: acceptedOnly}, nil
}

// String implements Source.
func (s *StoreSource) String() string { return s.st.String() }

// Resolve implements Source.
func (s *StoreSource) Resolve(ctx context.Context) ([]Want, error) {
	out := make([]Want, 0, len(s.specs))
	for _, spec := range s.specs {
		w := Want{Name: spec.Ref.Name, Ref: spec.Ref, Version: spec.Version}
		if spec.Version == "" {
			v, err := s.latest(ctx, spec.Ref)
			if err != nil {
				w.Err = fmt.Errorf("model %s: resolve version: %w", spec.Ref, err)
			} else {
				w.Version = v
			}
		}
		out = append(out, w)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("resolve models in %s: %w", s.st, err)
		}
	}
	return out, nil
}

// latest is the newest version of ref, or the newest accepted one. Unlike
// store.Latest it does not stop at a manifest it cannot read: that version
// is chosen, so that loading it fails with the reason and the set falls
// back to an older one (see Fallbacks).
func (s *StoreSource) latest(ctx context.Context, ref store.ModelRef) (string, error) {
	versions, err := s.st.ListModelVersions(ctx, ref)
	if err != nil {
		return "", err
	}
	for i := len(versions) - 1; i >= 0; i-- {
		m, err := s.st.GetManifest(ctx, ref, versions[i])
		if err != nil {
			if ctx.Err() != nil {
				return "", err
			}
			return versions[i], nil
		}
		if !s.acceptedOnly || !m.Rejected() {
			return m.Version, nil
		}
	}
	if s.acceptedOnly && len(versions) > 0 {
		return "", fmt.Errorf("model %s: no accepted version in %s (%d rejected): %w", ref, s.st, len(versions), store.ErrNotFound)
	}
	return "", fmt.Errorf("model %s: no version in %s: %w", ref, s.st, store.ErrNotFound)
}

// Fallbacks implements Fallbacker: the newest MaxFallbacks versions older
// than w's whose manifests read (and that the gate accepted, when the
// source serves accepted versions only). A pinned model has none.
func (s *StoreSource) Fallbacks(ctx context.Context, w Want) ([]Want, error) {
	for _, spec := range s.specs {
		if spec.Ref == w.Ref && spec.Version != "" {
			return nil, nil
		}
	}
	versions, err := s.st.ListModelVersions(ctx, w.Ref)
	if err != nil {
		return nil, fmt.Errorf("model %s: list older versions: %w", w.Ref, err)
	}
	var out []Want
	for i := len(versions) - 1; i >= 0 && len(out) < MaxFallbacks; i-- {
		if versions[i] >= w.Version {
			continue
		}
		m, err := s.st.GetManifest(ctx, w.Ref, versions[i])
		if err != nil {
			if ctx.Err() != nil {
				return out, fmt.Errorf("model %s: older versions: %w", w.Ref, ctx.Err())
			}
			continue
		}
		if s.acceptedOnly && m.Rejected() {
			continue
		}
		out = append(out, Want{Name: w.Name, Ref: w.Ref, Version: m.Version})
	}
	return out, nil
}

// FetchModel implements Source.
func (s *StoreSource) FetchModel(ctx context.Context, w Want) (Artifact, error) {
	m, b, err := s.st.GetModel(ctx, w.Ref, w.Version)
	if err != nil {
		return Artifact{}, fmt.Errorf("model %s version %s: %w", w.Ref, w.Version, err)
	}
	return Artifact{Manifest: m, Model: b}, nil
}

// FetchPlugin implements Source.
func (s *StoreSource) FetchPlugin(ctx context.Context, _ Want, m store.Manifest) ([]byte, error) {
	return fetchStorePlugin(ctx, s.st, m)
}

func fetchStorePlugin(ctx context.Context, st store.Store, m store.Manifest) ([]byte, error) {
	meta, wasm, err := st.GetPlugin(ctx, m.Plugin.Name, m.Plugin.Version)
	if err != nil {
		return nil, fmt.Errorf("plugin %s %s: %w", m.Plugin.Name, m.Plugin.Version, err)
	}
	if m.Plugin.SHA256 != "" && meta.SHA256 != m.Plugin.SHA256 {
		return nil, fmt.Errorf("plugin %s %s in %s has sha256 %s, the manifest of model %s version %s pins %s: %w",
			m.Plugin.Name, m.Plugin.Version, st, meta.SHA256, m.Model, m.Version, m.Plugin.SHA256, store.ErrDigestMismatch)
	}
	return wasm, nil
}

// DirSource serves the model versions found in a directory: KServe's model
// directory (/mnt/models) holding one version (manifest.json, model.bin and
// optionally plugin.wasm), or a tree with several such directories (for
// example a copy of a store's models/ folder). When one model appears in
// several directories the greatest version (by name: store versions sort by
// time) serves; two models of one name in different namespaces are an
// error. The plugin comes from plugin.wasm beside the model, else from the
// fallback store.
type DirSource struct {
	dir      string
	fallback store.Store
	maxDepth int
}

// NewDirSource returns a source for dir; fallback (may be nil) provides
// plugins not found beside a model.
func NewDirSource(dir string, fallback store.Store) (*DirSource, error) {
	if dir == "" {
		return nil, errors.New("model directory: empty path")
	}
	return &DirSource{dir: dir, fallback: fallback, maxDepth: 5}, nil
}

// String implements Source.
func (d *DirSource) String() string { return d.dir }

// Resolve implements Source.
func (d *DirSource) Resolve(ctx context.Context) ([]Want, error) {
	if _, err := os.Stat(d.dir); err != nil {
		return nil, fmt.Errorf("model directory: %w", err)
	}
	best := map[string]Want{}
	var problems []Want
	root := filepath.Clean(d.dir)
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			rel, _ := filepath.Rel(root, path)
			if rel != "." && (strings.HasPrefix(e.Name(), ".") || strings.Count(rel, string(filepath.Separator)) >= d.maxDepth) {
				return filepath.SkipDir
			}
			return nil
		}
		if e.Name() != ManifestFile {
			return nil
		}
		dir := filepath.Dir(path)
		m, err := readManifest(path)
		if err != nil {
			problems = append(problems, Want{Name: dir, Err: err, dir: dir})
			return nil
		}
		w := Want{Name: m.Model.Name, Ref: m.Model, Version: m.Version, dir: dir}
		if prev, ok := best[w.Name]; ok {
			if prev.Ref != w.Ref {
				problems = append(problems, Want{Name: dir, dir: dir,
					Err: fmt.Errorf("%s: model %s has the same name as model %s in %s", path, w.Ref, prev.Ref, prev.dir)})
				return nil
			}
			if prev.Version >= w.Version {
				return nil
			}
		}
		best[w.Name] = w
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("model directory %s: %w", d.dir, err)
	}
	out := make([]Want, 0, len(best)+len(problems))
	for _, w := range best {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	// Unreadable manifests and name conflicts are reported under their
	// directory, so that they keep the runtime from being ready without
	// touching the models that load.
	out = append(out, problems...)
	return out, nil
}

func readManifest(path string) (store.Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return store.Manifest{}, fmt.Errorf("read manifest: %w", err)
	}
	var m store.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return store.Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	if err := m.Model.Validate(); err != nil {
		return store.Manifest{}, fmt.Errorf("%s: %w", path, err)
	}
	if m.Version == "" {
		return store.Manifest{}, fmt.Errorf("%s: version is empty", path)
	}
	return m, nil
}

// FetchModel implements Source.
func (d *DirSource) FetchModel(_ context.Context, w Want) (Artifact, error) {
	path := filepath.Join(w.dir, ManifestFile)
	m, err := readManifest(path)
	if err != nil {
		return Artifact{}, err
	}
	if m.Model != w.Ref || m.Version != w.Version {
		return Artifact{}, fmt.Errorf("%s: changed while loading (now model %s version %s)", path, m.Model, m.Version)
	}
	modelPath := filepath.Join(w.dir, ModelFile)
	b, err := os.ReadFile(modelPath)
	if err != nil {
		return Artifact{}, fmt.Errorf("model %s version %s: %w", m.Model, m.Version, err)
	}
	if m.ModelSHA256 == "" {
		return Artifact{}, fmt.Errorf("%s: model_sha256 is empty: the model cannot be verified", path)
	}
	if got := sha256Hex(b); got != m.ModelSHA256 {
		return Artifact{}, fmt.Errorf("%s has sha256 %s, its manifest says %s: %w", modelPath, got, m.ModelSHA256, store.ErrDigestMismatch)
	}
	return Artifact{Manifest: m, Model: b}, nil
}

// FetchPlugin implements Source.
func (d *DirSource) FetchPlugin(ctx context.Context, w Want, m store.Manifest) ([]byte, error) {
	path := filepath.Join(w.dir, PluginFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return b, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("plugin %s %s: %w", m.Plugin.Name, m.Plugin.Version, err)
	case d.fallback == nil:
		return nil, fmt.Errorf("plugin %s %s: no %s beside the model in %s and no store to fetch it from", m.Plugin.Name, m.Plugin.Version, PluginFile, w.dir)
	}
	return fetchStorePlugin(ctx, d.fallback, m)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
