package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"sort"
	"strings"
	"time"
)

// Object names inside a version.
const (
	pluginWasmFile    = "plugin.wasm"
	pluginMetaFile    = "plugin.json"
	modelFile         = "model.bin"
	modelManifestFile = "manifest.json"

	pluginsDir = "plugins"
	modelsDir  = "models"

	// maxDocumentSize bounds what is read of a plugin.json or manifest.json.
	maxDocumentSize = 4 << 20
)

// objects is what a backend provides: flat, immutable objects named by
// slash-separated keys relative to the store's root.
type objects interface {
	// create stores a new object. It fails with ErrExists, atomically, when
	// the key exists (or is being created by a concurrent writer who wins).
	create(ctx context.Context, key string, data []byte) error
	// read returns an object's bytes, ErrNotFound when it does not exist,
	// and an error when it is larger than limit bytes.
	read(ctx context.Context, key string, limit int64) ([]byte, error)
	// list returns every key under prefix (which ends in "/"), in any order.
	list(ctx context.Context, prefix string) ([]string, error)
	// remove deletes an object. Only used to withdraw a payload this process
	// just created when its commit marker could not be written.
	remove(ctx context.Context, key string) error
	// location renders a key for messages: a path or an s3:// URL.
	location(key string) string
	// String names the root for messages.
	String() string
}

// artifacts implements Store over objects: the layout, the digests and the
// commit protocol are the same for every backend.
type artifacts struct {
	obj     objects
	now     func() time.Time
	entropy io.Reader
	log     *slog.Logger

	// afterPayload, when set (tests only), runs between writing a payload
	// and its commit marker; an error from it aborts the write.
	afterPayload func(key string) error
}

func newArtifacts(obj objects, c *config) *artifacts {
	return &artifacts{obj: obj, now: c.now, entropy: c.entropy, log: c.logger}
}

func (a *artifacts) String() string { return a.obj.String() }

func pluginKey(name, version, file string) string {
	return path.Join(pluginsDir, name, version, file)
}

func modelKey(ref ModelRef, version, file string) string {
	return path.Join(modelsDir, ref.Namespace, ref.Name, version, file)
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// commit writes payload then document, the document being the commit
// marker. If the document cannot be written, the payload just created is
// withdrawn (best effort) so that the version can be written again.
func (a *artifacts) commit(ctx context.Context, payloadKey string, payload []byte, docKey string, doc any) error {
	docBytes, err := encodeDocument(doc)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", a.obj.location(docKey), err)
	}
	// A committed version may have been written by someone else already: say
	// so without touching anything.
	if _, err := a.obj.read(ctx, docKey, maxDocumentSize); err == nil {
		return fmt.Errorf("%s: %w", a.obj.location(docKey), ErrExists)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	if err := a.obj.create(ctx, payloadKey, payload); err != nil {
		return err
	}
	if a.afterPayload != nil {
		if err := a.afterPayload(payloadKey); err != nil {
			return a.withdraw(payloadKey, fmt.Errorf("%s: %w", a.obj.location(payloadKey), err))
		}
	}
	if err := a.obj.create(ctx, docKey, docBytes); err != nil {
		if errors.Is(err, ErrExists) {
			// Payload creation is exclusive, so nobody else can commit
			// around our payload; leave everything as it is.
			return err
		}
		// The write may have reached the store even though its answer did
		// not reach us: withdraw the payload only once the marker is known
		// to be absent, never under a committed version.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		got, rerr := a.obj.read(ctx, docKey, maxDocumentSize)
		switch {
		case rerr == nil && bytes.Equal(got, docBytes):
			a.log.Warn("write reported an error but was committed", "object", a.obj.location(docKey), "error", err)
			return nil
		case errors.Is(rerr, ErrNotFound):
			return a.withdraw(payloadKey, err)
		default:
			a.log.Warn("uncommitted object left in place: the store cannot say whether its version was committed",
				"object", a.obj.location(payloadKey), "error", rerr)
			return err
		}
	}
	return nil
}

// withdraw removes an uncommitted payload this process created, with a
// fresh context (the caller's may be what failed), and returns cause.
func (a *artifacts) withdraw(payloadKey string, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.obj.remove(ctx, payloadKey); err != nil {
		a.log.Warn("could not withdraw uncommitted object; it is invisible but blocks its version",
			"object", a.obj.location(payloadKey), "error", err)
	}
	return cause
}

// readVerified reads a payload and checks its size and digest.
func (a *artifacts) readVerified(ctx context.Context, key string, size int64, sha string) ([]byte, error) {
	b, err := a.obj.read(ctx, key, size)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%s: committed version has no payload: %w", a.obj.location(key), err)
		}
		if errors.Is(err, errTooLarge) {
			return nil, fmt.Errorf("%s: larger than the %d bytes recorded: %w", a.obj.location(key), size, ErrDigestMismatch)
		}
		return nil, err
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("%s: %d bytes, %d recorded: %w", a.obj.location(key), len(b), size, ErrDigestMismatch)
	}
	if got := digest(b); got != sha {
		return nil, fmt.Errorf("%s: sha256 %s, %s recorded: %w", a.obj.location(key), got, sha, ErrDigestMismatch)
	}
	return b, nil
}

func (a *artifacts) readDocument(ctx context.Context, key string, into any) error {
	b, err := a.obj.read(ctx, key, maxDocumentSize)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s: decode: %w", a.obj.location(key), err)
	}
	return nil
}

// PutPlugin implements Store.
func (a *artifacts) PutPlugin(ctx context.Context, meta PluginMeta, wasm []byte) (PluginMeta, error) {
	if err := meta.validate(); err != nil {
		return PluginMeta{}, fmt.Errorf("put plugin: %w", err)
	}
	sum := digest(wasm)
	if meta.SHA256 != "" && meta.SHA256 != sum {
		return PluginMeta{}, fmt.Errorf("put plugin %s %s: sha256 %s given, wasm has %s: %w", meta.Name, meta.Version, meta.SHA256, sum, ErrDigestMismatch)
	}
	meta.SHA256 = sum
	meta.Size = int64(len(wasm))
	if meta.Created.IsZero() {
		meta.Created = a.now().UTC()
	}
	if err := a.commit(ctx, pluginKey(meta.Name, meta.Version, pluginWasmFile), wasm,
		pluginKey(meta.Name, meta.Version, pluginMetaFile), meta); err != nil {
		return PluginMeta{}, fmt.Errorf("put plugin %s %s: %w", meta.Name, meta.Version, err)
	}
	return meta, nil
}

// GetPlugin implements Store.
func (a *artifacts) GetPlugin(ctx context.Context, name, version string) (PluginMeta, []byte, error) {
	if err := checkComponent("plugin name", name); err != nil {
		return PluginMeta{}, nil, fmt.Errorf("get plugin: %w", err)
	}
	if version == "" || version == LatestVersion {
		v, err := a.latestPluginVersion(ctx, name)
		if err != nil {
			return PluginMeta{}, nil, fmt.Errorf("get plugin %s: %w", name, err)
		}
		version = v
	} else if err := checkComponent("plugin version", version); err != nil {
		return PluginMeta{}, nil, fmt.Errorf("get plugin %s: %w", name, err)
	}
	var meta PluginMeta
	if err := a.readDocument(ctx, pluginKey(name, version, pluginMetaFile), &meta); err != nil {
		return PluginMeta{}, nil, fmt.Errorf("get plugin %s %s: %w", name, version, err)
	}
	if meta.Name != name || meta.Version != version {
		return PluginMeta{}, nil, fmt.Errorf("get plugin %s %s: %s describes %s %s",
			name, version, a.obj.location(pluginKey(name, version, pluginMetaFile)), meta.Name, meta.Version)
	}
	wasm, err := a.readVerified(ctx, pluginKey(name, version, pluginWasmFile), meta.Size, meta.SHA256)
	if err != nil {
		return PluginMeta{}, nil, fmt.Errorf("get plugin %s %s: %w", name, version, err)
	}
	return meta, wasm, nil
}

// latestPluginVersion finds the newest committed version of a plugin.
func (a *artifacts) latestPluginVersion(ctx context.Context, name string) (string, error) {
	keys, err := a.obj.list(ctx, pluginsDir+"/"+name+"/")
	if err != nil {
		return "", err
	}
	best := ""
	for _, k := range keys {
		v, ok := committedVersion(k, pluginsDir+"/"+name+"/", pluginMetaFile)
		if ok && (best == "" || ComparePluginVersions(v, best) > 0) {
			best = v
		}
	}
	if best == "" {
		return "", fmt.Errorf("no version in %s: %w", a.obj.location(pluginsDir+"/"+name+"/"), ErrNotFound)
	}
	return best, nil
}

// ListPlugins implements Store.
func (a *artifacts) ListPlugins(ctx context.Context) ([]PluginMeta, error) {
	keys, err := a.obj.list(ctx, pluginsDir+"/")
	if err != nil {
		return nil, fmt.Errorf("list plugins: %w", err)
	}
	var metas []PluginMeta
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, pluginsDir+"/")
		if !ok {
			continue
		}
		parts := strings.Split(rest, "/")
		if len(parts) != 3 || parts[2] != pluginMetaFile ||
			checkComponent("name", parts[0]) != nil || checkComponent("version", parts[1]) != nil {
			continue
		}
		var meta PluginMeta
		if err := a.readDocument(ctx, k, &meta); err != nil {
			return nil, fmt.Errorf("list plugins: %w", err)
		}
		metas = append(metas, meta)
	}
	sortPlugins(metas)
	return metas, nil
}

// PutModel implements Store.
func (a *artifacts) PutModel(ctx context.Context, m Manifest, model []byte) (Manifest, error) {
	if m.Version == "" {
		v, err := NewVersion(a.now(), a.entropy)
		if err != nil {
			return Manifest{}, fmt.Errorf("put model %s: %w", m.Model, err)
		}
		m.Version = v
	}
	if err := m.validate(); err != nil {
		return Manifest{}, fmt.Errorf("put model: %w", err)
	}
	sum := digest(model)
	if m.ModelSHA256 != "" && m.ModelSHA256 != sum {
		return Manifest{}, fmt.Errorf("put model %s %s: sha256 %s given, model has %s: %w", m.Model, m.Version, m.ModelSHA256, sum, ErrDigestMismatch)
	}
	m.ModelSHA256 = sum
	m.ModelSize = int64(len(model))
	if m.Created.IsZero() {
		m.Created = a.now().UTC()
	}
	if err := a.commit(ctx, modelKey(m.Model, m.Version, modelFile), model,
		modelKey(m.Model, m.Version, modelManifestFile), m); err != nil {
		return Manifest{}, fmt.Errorf("put model %s %s: %w", m.Model, m.Version, err)
	}
	return m, nil
}

// GetManifest implements Store.
func (a *artifacts) GetManifest(ctx context.Context, ref ModelRef, version string) (Manifest, error) {
	if err := ref.Validate(); err != nil {
		return Manifest{}, fmt.Errorf("get model: %w", err)
	}
	if err := checkComponent("version", version); err != nil {
		return Manifest{}, fmt.Errorf("get model %s: %w", ref, err)
	}
	var m Manifest
	key := modelKey(ref, version, modelManifestFile)
	if err := a.readDocument(ctx, key, &m); err != nil {
		return Manifest{}, fmt.Errorf("get model %s %s: %w", ref, version, err)
	}
	if m.Model != ref || m.Version != version {
		return Manifest{}, fmt.Errorf("get model %s %s: %s describes %s %s", ref, version, a.obj.location(key), m.Model, m.Version)
	}
	if !isHexDigest(m.ModelSHA256) {
		return Manifest{}, fmt.Errorf("get model %s %s: %s: model_sha256 %q is not a sha256", ref, version, a.obj.location(key), m.ModelSHA256)
	}
	return m, nil
}

// GetModel implements Store.
func (a *artifacts) GetModel(ctx context.Context, ref ModelRef, version string) (Manifest, []byte, error) {
	m, err := a.GetManifest(ctx, ref, version)
	if err != nil {
		return Manifest{}, nil, err
	}
	b, err := a.readVerified(ctx, modelKey(ref, version, modelFile), m.ModelSize, m.ModelSHA256)
	if err != nil {
		return Manifest{}, nil, fmt.Errorf("get model %s %s: %w", ref, version, err)
	}
	return m, b, nil
}

// ListModelVersions implements Store.
func (a *artifacts) ListModelVersions(ctx context.Context, ref ModelRef) ([]string, error) {
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("list model versions: %w", err)
	}
	prefix := path.Join(modelsDir, ref.Namespace, ref.Name) + "/"
	keys, err := a.obj.list(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list versions of model %s: %w", ref, err)
	}
	var versions []string
	for _, k := range keys {
		if v, ok := committedVersion(k, prefix, modelManifestFile); ok {
			versions = append(versions, v)
		}
	}
	sort.Strings(versions)
	return versions, nil
}

// Latest implements Store.
func (a *artifacts) Latest(ctx context.Context, ref ModelRef, acceptedOnly bool) (Manifest, error) {
	versions, err := a.ListModelVersions(ctx, ref)
	if err != nil {
		return Manifest{}, err
	}
	for i := len(versions) - 1; i >= 0; i-- {
		m, err := a.GetManifest(ctx, ref, versions[i])
		if err != nil {
			return Manifest{}, fmt.Errorf("latest version of model %s: %w", ref, err)
		}
		if !acceptedOnly || !m.Rejected() {
			return m, nil
		}
	}
	loc := a.obj.location(path.Join(modelsDir, ref.Namespace, ref.Name) + "/")
	if acceptedOnly && len(versions) > 0 {
		return Manifest{}, fmt.Errorf("model %s: no accepted version in %s (%d rejected): %w", ref, loc, len(versions), ErrNotFound)
	}
	return Manifest{}, fmt.Errorf("model %s: no version in %s: %w", ref, loc, ErrNotFound)
}

// committedVersion recognises prefix + "<version>/" + marker.
func committedVersion(key, prefix, marker string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", false
	}
	v, file, ok := strings.Cut(rest, "/")
	if !ok || file != marker || checkComponent("version", v) != nil {
		return "", false
	}
	return v, true
}

// errTooLarge is returned by objects.read when an object exceeds its limit.
var errTooLarge = errors.New("object larger than expected")

// defaultEntropy is the entropy of NewVersion outside of tests.
var defaultEntropy io.Reader = rand.Reader

// encodeDocument renders a plugin.json or manifest.json: indented for
// people, without HTML escaping, ending in a newline.
func encodeDocument(doc any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
