package testwasm

import (
	"bytes"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	const pkg = "./host/engine/testdata/guests/echo"
	a := Build(t, pkg)
	if !bytes.HasPrefix(a, []byte("\x00asm\x01\x00\x00\x00")) {
		t.Fatalf("output of %d bytes is not a wasm 1 module", len(a))
	}
	b := Build(t, "host/engine/testdata/guests/echo/")
	if &a[0] != &b[0] {
		t.Error("the same package was built twice")
	}
}

func TestBuildError(t *testing.T) {
	_, err := Bytes("./no/such/package")
	if err == nil || !strings.Contains(err.Error(), "build ./no/such/package") {
		t.Errorf("build of a missing package: %v", err)
	}
}
