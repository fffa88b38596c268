package abi

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestSpecExportTable holds SPEC.md's export table to Exports: the
// document, the engine and the conformance suite read one contract.
func TestSpecExportTable(t *testing.T) {
	b, err := os.ReadFile("SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(ppa_[a-z_]+)` \\| `([^`]*)` \\|")
	paramName := regexp.MustCompile(`[a-z]+: `)
	spec := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		spec[m[1]] = paramName.ReplaceAllString(m[2], "")
	}
	for _, e := range Exports {
		if !e.Required {
			if !strings.Contains(string(b), "`"+e.Name+"`") {
				t.Errorf("SPEC.md does not mention the optional export %s", e.Name)
			}
			continue
		}
		got, ok := spec[e.Name]
		switch {
		case !ok:
			t.Errorf("SPEC.md's export table lacks %s", e.Name)
		case got != e.Signature.String():
			t.Errorf("SPEC.md gives %s the signature %s, the table %s", e.Name, got, e.Signature)
		}
		delete(spec, e.Name)
	}
	for name := range spec {
		t.Errorf("SPEC.md's export table has %s, which Exports lacks", name)
	}
	for _, want := range []string{ImportWASI, ImportEnv + "." + ImportAbort} {
		if !strings.Contains(string(b), "`"+want+"`") {
			t.Errorf("SPEC.md does not name the allowed import %s", want)
		}
	}
}

func TestImportAllowed(t *testing.T) {
	for _, c := range []struct {
		module, name string
		ok           bool
	}{
		{ImportWASI, "fd_write", true}, {ImportEnv, ImportAbort, true}, {ImportEnv, "http_get", false}, {"wasi_unstable", "fd_write", false},
	} {
		if got := ImportAllowed(c.module, c.name); got != c.ok {
			t.Errorf("ImportAllowed(%s, %s) = %t", c.module, c.name, got)
		}
	}
	if len(RequiredExports) != 6 || RequiredExports[0] != ExportABIVersion {
		t.Errorf("RequiredExports = %v", RequiredExports)
	}
}
