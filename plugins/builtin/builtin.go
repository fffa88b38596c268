// Package builtin gives access to the forecaster plugins compiled into the
// binary: the WebAssembly modules that `make plugins` writes into the wasm
// folder beside this file (see wasm/README.md and hack/buildplugins).
//
// A binary built before `make plugins` has no built-in plugins; Load then
// says so and how to fix it.
package builtin

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
)

//go:embed wasm
var files embed.FS

// Ext is the file name extension of a built plugin.
const Ext = ".wasm"

// Names returns the names of the built-in plugins, sorted.
func Names() []string {
	entries, err := fs.ReadDir(files, "wasm")
	if err != nil {
		// The directory is embedded, so it always exists.
		panic(fmt.Sprintf("builtin: read embedded wasm directory: %v", err))
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), Ext) {
			names = append(names, strings.TrimSuffix(e.Name(), Ext))
		}
	}
	sort.Strings(names)
	return names
}

// Load returns the WebAssembly bytes of the built-in plugin with the given
// name, for example "seasonal-naive".
func Load(name string) ([]byte, error) {
	if name == "" || strings.ContainsAny(name, `/\`) || name != path.Clean(name) {
		return nil, fmt.Errorf("built-in plugin %q: not a plugin name", name)
	}
	b, err := files.ReadFile("wasm/" + name + Ext)
	if err != nil {
		available := "none"
		if names := Names(); len(names) > 0 {
			available = strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("built-in plugin %q not found (available: %s); run `make plugins` and rebuild", name, available)
	}
	return b, nil
}

var digests = sync.OnceValue(func() []string {
	var out []string
	for _, name := range Names() {
		b, err := files.ReadFile("wasm/" + name + Ext)
		if err != nil {
			panic(fmt.Sprintf("builtin: read embedded %s: %v", name, err))
		}
		sum := sha256.Sum256(b)
		out = append(out, hex.EncodeToString(sum[:]))
	}
	return out
})

// Digests returns the lowercase hex sha256 of every built-in plugin. Hosts
// pass them to the engine as trusted (engine.Config.WithTrustedDigests):
// these modules are this build's own code, so they may run without the
// per-loop termination checks that slow guests down, wherever they are
// loaded from (embedded, a store, a model directory).
func Digests() []string { return slices.Clone(digests()) }
