// Package store keeps PPA's artifacts: forecaster plugins (.wasm) and trained
// models, each beside a JSON document describing it, in immutable versions.
//
// Two backends share one layout and one set of rules: a local directory (the
// laptop mode) and an S3 bucket (minio-go; MinIO, AWS S3 and other
// S3-compatible servers; the conformance suite runs against MinIO and
// SeaweedFS's S3 gateway, which behave alike for everything the store
// does). Under an optional prefix:
//
//	plugins/<name>/<version>/plugin.wasm
//	plugins/<name>/<version>/plugin.json                 (PluginMeta)
//	models/<namespace>/<model>/<version>/model.bin
//	models/<namespace>/<model>/<version>/manifest.json   (Manifest)
//
// # Notes
//
//   - Nothing is ever overwritten or deleted. Writing a version that exists is
//     refused with ErrExists, atomically: by a hard link that cannot replace an
//     existing file (local) or by a conditional PUT with If-None-Match: *
//     (S3), so of two concurrent writers of one version exactly one wins.
//   - The JSON document is the commit marker. The payload (model.bin,
//     plugin.wasm) is written first and the document after it; a version
//     exists only once its document exists, so a crash or a failed upload
//     never leaves a visible partial version.
//   - Every read checks the payload's sha256 against the document and fails
//     with ErrDigestMismatch, naming the object, when they differ.
package store

import (
	"context"
	"errors"
)

// Sentinel errors. Errors returned by a Store wrap one of these where a
// caller may want to branch, and name the object they are about.
var (
	// ErrNotFound: the plugin, model or version does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the version already exists; versions are immutable.
	ErrExists = errors.New("already exists")
	// ErrDigestMismatch: stored bytes do not match the sha256 recorded for them.
	ErrDigestMismatch = errors.New("sha256 digest mismatch")
)

// LatestVersion is the plugin version that GetPlugin resolves to the newest
// stored version of a plugin (as does the empty string).
const LatestVersion = "latest"

// Store is an artifact store. Implementations are safe for concurrent use.
type Store interface {
	// PutPlugin stores a plugin version. It fills in meta's SHA256 and Size
	// from wasm (a non-empty SHA256 that differs is ErrDigestMismatch) and
	// Created from the store's clock when zero, and returns the stored meta.
	// An existing name/version is refused with ErrExists.
	PutPlugin(ctx context.Context, meta PluginMeta, wasm []byte) (PluginMeta, error)
	// GetPlugin returns a plugin version's meta and wasm bytes, verified
	// against meta's sha256 (ErrDigestMismatch). Version "" or "latest"
	// selects the newest version (see ComparePluginVersions).
	GetPlugin(ctx context.Context, name, version string) (PluginMeta, []byte, error)
	// ListPlugins returns every stored plugin version, sorted by name and
	// then by version, oldest first.
	ListPlugins(ctx context.Context) ([]PluginMeta, error)

	// PutModel stores a model version. It fills in the manifest's
	// ModelSHA256 and ModelSize (a non-empty ModelSHA256 that differs is
	// ErrDigestMismatch), Version with NewVersion when empty, and Created
	// from the store's clock when zero, and returns the stored manifest. An
	// existing version is refused with ErrExists.
	PutModel(ctx context.Context, m Manifest, model []byte) (Manifest, error)
	// GetModel returns a model version's manifest and bytes, verified
	// against the manifest's sha256 (ErrDigestMismatch).
	GetModel(ctx context.Context, ref ModelRef, version string) (Manifest, []byte, error)
	// GetManifest returns a model version's manifest without the model.
	GetManifest(ctx context.Context, ref ModelRef, version string) (Manifest, error)
	// ListModelVersions returns the committed versions of a model sorted
	// ascending (versions made by NewVersion sort by time). A model with no
	// version is not an error: the list is empty.
	ListModelVersions(ctx context.Context, ref ModelRef) ([]string, error)
	// Latest returns the manifest of the newest version of a model, or of
	// the newest version the quality gate accepted when acceptedOnly is
	// set. ErrNotFound when there is none.
	Latest(ctx context.Context, ref ModelRef, acceptedOnly bool) (Manifest, error)

	// String names the store's location for messages, e.g.
	// "s3://models/ppa (http://minio:9000)" or "/var/lib/ppa".
	String() string
}
