package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tmpPrefix starts the names of files being written; such files are never
// part of a version (component names cannot start with '.').
const tmpPrefix = ".tmp-"

// localObjects keeps objects as files under a root directory.
//
// A new object is written to a temporary file in its final directory,
// fsynced, made read-only, then hard-linked to its final name: link(2) never
// replaces an existing file, so the first writer wins and readers never see
// a partial file. The directory is fsynced after the link.
type localObjects struct {
	root string // absolute
}

func openLocal(dir string, c *config) (Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open store %s: not a directory", abs)
	}
	return newArtifacts(&localObjects{root: abs}, c), nil
}

func (l *localObjects) String() string { return l.root }

func (l *localObjects) path(key string) string {
	return filepath.Join(l.root, filepath.FromSlash(key))
}

func (l *localObjects) location(key string) string { return l.path(key) }

func (l *localObjects) create(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", l.path(key), err)
	}
	final := l.path(key)
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", final, err)
	}
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("%s: %w", final, ErrExists)
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(final)+"-*")
	if err != nil {
		return fmt.Errorf("%s: %w", final, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // the link, if made, keeps the data
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: write: %w", final, err)
	}
	if err := tmp.Chmod(0o444); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", final, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: fsync: %w", final, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", final, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", final, err)
	}
	if err := os.Link(tmpName, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", final, ErrExists)
		}
		return fmt.Errorf("%s: %w", final, err)
	}
	// Make the new name durable, and the directories MkdirAll may have
	// created on the way to it.
	for d := dir; ; d = filepath.Dir(d) {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("%s: %w", final, err)
		}
		if d == l.root || len(d) <= len(l.root) {
			break
		}
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

func (l *localObjects) read(ctx context.Context, key string, limit int64) ([]byte, error) {
	p := l.path(key)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", p, ErrNotFound)
		}
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", p, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w", p, errTooLarge)
	}
	return b, nil
}

func (l *localObjects) list(ctx context.Context, prefix string) ([]string, error) {
	dir := l.path(prefix)
	var keys []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		keys = append(keys, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return keys, nil
}

func (l *localObjects) remove(ctx context.Context, key string) error {
	if err := os.Remove(l.path(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
