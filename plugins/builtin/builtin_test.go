package builtin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestLoadUnknownNameListsAvailable(t *testing.T) {
	_, err := Load("no-such-forecaster")
	if err == nil {
		t.Fatal("Load of an unknown name succeeded")
	}
	msg := err.Error()
	for _, want := range []string{`"no-such-forecaster" not found`, "available: ", "make plugins"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	for _, n := range Names() {
		if !strings.Contains(msg, n) {
			t.Errorf("error %q does not list the available plugin %q", msg, n)
		}
	}
}

func TestLoadRejectsPaths(t *testing.T) {
	for _, name := range []string{"", "../README", "wasm/x", `a\b`, "README.md/.."} {
		if _, err := Load(name); err == nil {
			t.Errorf("Load(%q) succeeded", name)
		}
	}
}

func TestNamesLoad(t *testing.T) {
	names := Names()
	for i, n := range names {
		if i > 0 && names[i-1] >= n {
			t.Errorf("names not sorted: %q before %q", names[i-1], n)
		}
		if strings.HasSuffix(n, Ext) || strings.Contains(n, "README") {
			t.Errorf("name %q is not a plugin name", n)
		}
		b, err := Load(n)
		if err != nil {
			t.Fatalf("Load(%q): %v", n, err)
		}
		if !bytes.HasPrefix(b, []byte("\x00asm")) {
			t.Errorf("Load(%q) is not a WebAssembly module", n)
		}
	}
}

func TestDigestsMatchLoad(t *testing.T) {
	names, digests := Names(), Digests()
	if len(digests) != len(names) {
		t.Fatalf("%d digests for %d plugins", len(digests), len(names))
	}
	for i, name := range names {
		b, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != digests[i] {
			t.Errorf("%s: digest %s, Load's bytes hash to %s", name, digests[i], got)
		}
	}
}
