package trainer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

// resolvedPlugin is a loaded plugin and where it came from.
type resolvedPlugin struct {
	plugin *engine.Plugin
	wasm   []byte
	ref    store.PluginRef
	// stored is true when the store holds these very bytes already.
	stored bool
	// origin names the source for messages: a path, "built-in" or the store.
	origin string
	// params are the parameters the policy search trains a default
	// candidate with (policy.DefaultCandidates); nil for a named plugin,
	// which takes the user's.
	params abi.Params
}

// IsPluginPath reports whether a plugin reference is a file path (it ends
// in .wasm or contains a path separator) rather than NAME[@VERSION].
func IsPluginPath(ref string) bool {
	return strings.HasSuffix(ref, builtin.Ext) || strings.ContainsRune(ref, '/') || strings.ContainsRune(ref, filepath.Separator)
}

// ParsePluginRef splits NAME[@VERSION]; the version is empty when absent.
func ParsePluginRef(ref string) (name, version string, err error) {
	name, version, hasVersion := strings.Cut(ref, "@")
	if name == "" {
		return "", "", fmt.Errorf("plugin %q: want NAME[@VERSION] or a path to a .wasm file", ref)
	}
	if hasVersion && version == "" {
		return "", "", fmt.Errorf("plugin %q: empty version after @", ref)
	}
	return name, version, nil
}

// resolvePlugin finds, loads and checks the plugin of the run.
func (r *run) resolvePlugin(ctx context.Context, eng *engine.Engine, ref string) (*resolvedPlugin, error) {
	if IsPluginPath(ref) {
		wasm, err := os.ReadFile(ref)
		if err != nil {
			return nil, fmt.Errorf("plugin: %w", err)
		}
		return r.loadUnstored(ctx, eng, wasm, ref, "")
	}
	name, version, err := ParsePluginRef(ref)
	if err != nil {
		return nil, err
	}
	meta, wasm, err := r.o.Store.GetPlugin(ctx, name, version)
	switch {
	case err == nil:
		p, err := eng.Load(ctx, wasm, meta.SHA256)
		if err != nil {
			return nil, fmt.Errorf("plugin %s %s from %s: %w", meta.Name, meta.Version, r.o.Store, err)
		}
		d := p.Description()
		if d.Name != meta.Name || d.Version != meta.Version {
			p.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("plugin %s %s from %s describes itself as %s %s", meta.Name, meta.Version, r.o.Store, d.Name, d.Version)
		}
		r.log.Info("plugin from the store", "plugin", meta.Name, "version", meta.Version, "sha256", meta.SHA256)
		return &resolvedPlugin{
			plugin: p, wasm: wasm, stored: true, origin: r.o.Store.String(),
			ref: store.PluginRef{Name: meta.Name, Version: meta.Version, SHA256: meta.SHA256, Run: string(p.RunMode())},
		}, nil
	case errors.Is(err, store.ErrNotFound):
		load := r.o.Builtin
		if load == nil {
			load = builtin.Load
		}
		wasm, berr := load(name)
		if berr != nil {
			return nil, fmt.Errorf("plugin %q is not in the store %s and not built in: %w", ref, r.o.Store, berr)
		}
		return r.loadUnstored(ctx, eng, wasm, "built-in "+name, version)
	default:
		return nil, fmt.Errorf("plugin %q: %w", ref, err)
	}
}

// loadUnstored loads a plugin that did not come from the store and checks
// that the store does not hold other bytes under its name and version.
func (r *run) loadUnstored(ctx context.Context, eng *engine.Engine, wasm []byte, origin, wantVersion string) (*resolvedPlugin, error) {
	p, err := eng.Load(ctx, wasm, "")
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", origin, err)
	}
	ok := false
	defer func() {
		if !ok {
			p.Close(context.WithoutCancel(ctx))
		}
	}()
	d := p.Description()
	if wantVersion != "" && d.Version != wantVersion {
		return nil, fmt.Errorf("plugin %s@%s: not in the store %s, and the %s plugin is version %s", d.Name, wantVersion, r.o.Store, origin, d.Version)
	}
	rp := &resolvedPlugin{
		plugin: p, wasm: wasm, origin: origin,
		ref: store.PluginRef{Name: d.Name, Version: d.Version, SHA256: p.Digest(), Run: string(p.RunMode())},
	}
	if rp.stored, err = r.storedAlready(ctx, rp.ref); err != nil {
		return nil, err
	}
	r.log.Info("plugin", "origin", origin, "plugin", d.Name, "version", d.Version, "sha256", rp.ref.SHA256, "stored", rp.stored)
	ok = true
	return rp, nil
}

// storedAlready reports whether the store holds ref's bytes, and fails
// when it holds other bytes under ref's name and version.
func (r *run) storedAlready(ctx context.Context, ref store.PluginRef) (bool, error) {
	meta, _, err := r.o.Store.GetPlugin(ctx, ref.Name, ref.Version)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("plugin %s %s: checking the store: %w", ref.Name, ref.Version, err)
	case meta.SHA256 != ref.SHA256:
		return false, fmt.Errorf("plugin %s %s: the store %s holds other bytes under this version (sha256 %s; this module is %s): plugin versions are immutable, so give the changed plugin a new version",
			ref.Name, ref.Version, r.o.Store, meta.SHA256, ref.SHA256)
	default:
		return true, nil
	}
}

// publishPlugin puts the plugin into the store unless it is there, and
// reports whether this run put it.
func (r *run) publishPlugin(ctx context.Context, rp *resolvedPlugin) (bool, error) {
	if rp.stored {
		return false, nil
	}
	meta := store.PluginMeta{
		Name:        rp.ref.Name,
		Version:     rp.ref.Version,
		SHA256:      rp.ref.SHA256,
		ABIVersion:  abi.VersionString(rp.plugin.ABIVersion()),
		Description: rp.plugin.Description(),
		Created:     r.now().UTC(),
		Uploader:    r.o.CreatedBy,
	}
	_, err := r.o.Store.PutPlugin(ctx, meta, rp.wasm)
	if errors.Is(err, store.ErrExists) {
		// Someone published it since we looked: fine if it is the same.
		if _, cerr := r.storedAlready(ctx, rp.ref); cerr != nil {
			return false, cerr
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("publish plugin: %w", err)
	}
	r.log.Info("published plugin", "plugin", meta.Name, "version", meta.Version, "store", r.o.Store.String())
	return true, nil
}

// PushPlugin stores a plugin's wasm under the name and version of its
// self-description (loaded and checked by eng), recording uploader. When
// the store holds that version already, it returns the stored meta with
// created false if the bytes are the same, and an error wrapping
// store.ErrExists if they differ (versions are immutable).
func PushPlugin(ctx context.Context, s store.Store, eng *engine.Engine, wasm []byte, uploader string) (meta store.PluginMeta, created bool, err error) {
	p, err := eng.Load(ctx, wasm, "")
	if err != nil {
		return store.PluginMeta{}, false, fmt.Errorf("push plugin: %w", err)
	}
	defer p.Close(context.WithoutCancel(ctx))
	d := p.Description()
	meta, err = s.PutPlugin(ctx, store.PluginMeta{
		Name:        d.Name,
		Version:     d.Version,
		ABIVersion:  abi.VersionString(p.ABIVersion()),
		Description: d,
		Uploader:    uploader,
	}, wasm)
	if errors.Is(err, store.ErrExists) {
		old, _, gerr := s.GetPlugin(ctx, d.Name, d.Version)
		if gerr != nil {
			return store.PluginMeta{}, false, fmt.Errorf("push plugin %s %s: %w (and reading it back: %v)", d.Name, d.Version, err, gerr)
		}
		if old.SHA256 != p.Digest() {
			return store.PluginMeta{}, false, fmt.Errorf("push plugin %s %s: the store %s holds other bytes under this version (sha256 %s; this module is %s): give the changed plugin a new version: %w",
				d.Name, d.Version, s, old.SHA256, p.Digest(), store.ErrExists)
		}
		return old, false, nil
	}
	if err != nil {
		return store.PluginMeta{}, false, fmt.Errorf("push plugin: %w", err)
	}
	return meta, true, nil
}
