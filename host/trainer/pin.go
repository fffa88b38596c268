package trainer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/ppa-autoscaler/ppa/host/store"
	"github.com/ppa-autoscaler/ppa/plugins/builtin"
)

// MaxPluginSize caps a plugin artifact fetched from --plugin-uri.
const MaxPluginSize = 64 << 20

// fetchTimeout bounds one fetch of --plugin-uri.
const fetchTimeout = 2 * time.Minute

var sha256Hex = regexp.MustCompile(`^[a-f0-9]{64}$`)

// PluginPin is what a registered Forecaster says about its artifact: the
// digest every load must match and where the artifact is when the store
// lacks it (--plugin-sha256, --plugin-uri).
type PluginPin struct {
	// SHA256 is the artifact's lower-case hex digest; empty: not pinned.
	SHA256 string
	// URI is where to fetch the artifact from when the store does not
	// hold the plugin version: file://PATH, http(s)://..., or
	// s3://BUCKET/PREFIX/plugins/NAME/VERSION/plugin.wasm (a store's
	// layout, as `ppa plugin push` writes it; read with the --store's S3
	// settings). The trainer then publishes it to the store.
	URI string
}

// Validate checks the digest's form and the URI's scheme.
func (p PluginPin) Validate() error {
	if p.SHA256 != "" && !sha256Hex.MatchString(p.SHA256) {
		return fmt.Errorf("--plugin-sha256 %q: want 64 lower-case hex digits", p.SHA256)
	}
	if p.URI != "" {
		u, err := url.Parse(p.URI)
		if err != nil {
			return fmt.Errorf("--plugin-uri: %w", err)
		}
		switch u.Scheme {
		case "file", "http", "https", "s3":
		default:
			return fmt.Errorf("--plugin-uri %q: want a file, http(s) or s3 URI", p.URI)
		}
		if p.SHA256 == "" && u.Scheme != "file" {
			return fmt.Errorf("--plugin-uri %q: a remote artifact needs --plugin-sha256", p.URI)
		}
	}
	return nil
}

// apply pins o's plugin: the store's copy must have the digest, and a
// plugin the store lacks comes from the URI (else built in) and must have
// it too. openS3 opens the store that an s3:// URI points into.
func (p PluginPin) apply(o *Options, openS3 func(ctx context.Context, uri string) (store.Store, error)) {
	if p.SHA256 == "" && p.URI == "" {
		return
	}
	next := o.Builtin
	if next == nil {
		next = builtin.Load
	}
	o.Builtin = func(name string) ([]byte, error) {
		var (
			wasm []byte
			err  error
			from = "built-in " + name
		)
		if p.URI != "" {
			ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
			defer cancel()
			wasm, err = fetchPlugin(ctx, p.URI, openS3)
			from = p.URI
		} else {
			wasm, err = next(name)
		}
		if err != nil {
			return nil, err
		}
		if err := p.check(wasm, from); err != nil {
			return nil, err
		}
		return wasm, nil
	}
}

// check compares wasm's digest with the pin.
func (p PluginPin) check(wasm []byte, from string) error {
	if p.SHA256 == "" {
		return nil
	}
	sum := sha256.Sum256(wasm)
	if got := hex.EncodeToString(sum[:]); got != p.SHA256 {
		return fmt.Errorf("plugin from %s has sha256 %s, --plugin-sha256 pins %s: %w", from, got, p.SHA256, store.ErrDigestMismatch)
	}
	return nil
}

// pinnedStore is a store whose plugin versions must have the pinned digest.
type pinnedStore struct {
	store.Store
	sha string
}

// GetPlugin returns the stored plugin only when its digest is the pinned
// one (the store itself checks the bytes against its recorded digest).
func (s pinnedStore) GetPlugin(ctx context.Context, name, version string) (store.PluginMeta, []byte, error) {
	meta, wasm, err := s.Store.GetPlugin(ctx, name, version)
	if err == nil && meta.SHA256 != s.sha {
		return meta, nil, fmt.Errorf("plugin %s %s in the store %s has sha256 %s, --plugin-sha256 pins %s: %w",
			meta.Name, meta.Version, s.Store, meta.SHA256, s.sha, store.ErrDigestMismatch)
	}
	return meta, wasm, err
}

// fetchPlugin reads the artifact at uri.
func fetchPlugin(ctx context.Context, uri string, openS3 func(ctx context.Context, uri string) (store.Store, error)) ([]byte, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("--plugin-uri: %w", err)
	}
	switch u.Scheme {
	case "file":
		b, err := os.ReadFile(u.Path)
		if err != nil {
			return nil, fmt.Errorf("--plugin-uri: %w", err)
		}
		return b, nil
	case "http", "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return nil, fmt.Errorf("--plugin-uri: %w", err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("--plugin-uri: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("--plugin-uri %s: %s", uri, resp.Status)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, MaxPluginSize+1))
		if err != nil {
			return nil, fmt.Errorf("--plugin-uri %s: %w", uri, err)
		}
		if len(b) > MaxPluginSize {
			return nil, fmt.Errorf("--plugin-uri %s: larger than %d bytes", uri, MaxPluginSize)
		}
		return b, nil
	case "s3":
		root, name, version, ok := splitStorePluginURI(u)
		if !ok {
			return nil, fmt.Errorf("--plugin-uri %s: an s3 URI must point into a store: s3://BUCKET/PREFIX/plugins/NAME/VERSION/plugin.wasm", uri)
		}
		s, err := openS3(ctx, root)
		if err != nil {
			return nil, fmt.Errorf("--plugin-uri %s: %w", uri, err)
		}
		_, b, err := s.GetPlugin(ctx, name, version)
		if err != nil {
			return nil, fmt.Errorf("--plugin-uri %s: %w", uri, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("--plugin-uri %q: want a file, http(s) or s3 URI", uri)
}

// splitStorePluginURI splits s3://BUCKET/PREFIX/plugins/NAME/VERSION/FILE
// into the store s3://BUCKET/PREFIX (with the URI's query) and the plugin.
func splitStorePluginURI(u *url.URL) (root, name, version string, ok bool) {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	n := len(parts)
	if n < 4 || parts[n-4] != "plugins" {
		return "", "", "", false
	}
	r := *u
	r.Path = "/" + strings.Join(parts[:n-4], "/")
	return strings.TrimSuffix(r.String(), "/"), parts[n-3], parts[n-2], true
}
