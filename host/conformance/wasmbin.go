package conformance

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/ppa-autoscaler/ppa/abi"
)

// This file reads just enough of the WebAssembly binary format (core spec
// §5: the type, import, function and export sections) to list a module's
// imports and exports with their signatures, independently of the engine,
// so that the report can name every problem at once.

// External kinds of imports and exports.
const (
	kindFunc   = 0
	kindTable  = 1
	kindMemory = 2
	kindGlobal = 3
	kindTag    = 4
)

func kindName(k byte) string {
	switch k {
	case kindFunc:
		return "function"
	case kindTable:
		return "table"
	case kindMemory:
		return "memory"
	case kindGlobal:
		return "global"
	case kindTag:
		return "tag"
	}
	return fmt.Sprintf("kind %d", k)
}

type wasmImport struct {
	module, name string
	kind         byte
	typ          abi.Signature // for functions
}

type wasmExport struct {
	name string
	kind byte
	typ  abi.Signature // for functions
}

// moduleInfo is what the checks need from a module.
type moduleInfo struct {
	imports []wasmImport
	exports map[string]wasmExport
}

var errTruncated = errors.New("unexpected end of module")

type wasmReader struct {
	b   []byte
	off int
}

func (r *wasmReader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *wasmReader) u32() (uint32, error) {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("malformed LEB128 integer at byte %d", r.off)
}

func (r *wasmReader) bytes(n uint32) ([]byte, error) {
	if uint64(n) > uint64(len(r.b)-r.off) {
		return nil, errTruncated
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p, nil
}

func (r *wasmReader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	p, err := r.bytes(n)
	return string(p), err
}

func (r *wasmReader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.u32(); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.u32()
	}
	return err
}

// parseModule reads the sections of a binary module that describe its
// imports and exports; other sections are skipped.
func parseModule(b []byte) (*moduleInfo, error) {
	if len(b) < 8 || !bytes.Equal(b[:4], []byte("\x00asm")) {
		return nil, fmt.Errorf("not a WebAssembly binary module (no \\0asm magic)")
	}
	if v := b[4:8]; !bytes.Equal(v, []byte{1, 0, 0, 0}) {
		return nil, fmt.Errorf("binary format version %v is not 1", v)
	}
	r := &wasmReader{b: b, off: 8}
	var types []abi.Signature
	var funcs []uint32 // type index per function, imported ones first
	info := &moduleInfo{exports: map[string]wasmExport{}}
	var exports []wasmExport
	var exportIdx []uint32
	for r.off < len(r.b) {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		body, err := r.bytes(size)
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		s := &wasmReader{b: body}
		switch id {
		case 1:
			if types, err = parseTypes(s); err != nil {
				return nil, fmt.Errorf("type section: %w", err)
			}
		case 2:
			n, err := s.u32()
			if err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
			for i := uint32(0); i < n; i++ {
				imp, typeIdx, err := parseImport(s)
				if err != nil {
					return nil, fmt.Errorf("import section: entry %d: %w", i, err)
				}
				if imp.kind == kindFunc {
					if int(typeIdx) >= len(types) {
						return nil, fmt.Errorf("import %s.%s: type index %d out of range", imp.module, imp.name, typeIdx)
					}
					imp.typ = types[typeIdx]
					funcs = append(funcs, typeIdx)
				}
				info.imports = append(info.imports, imp)
			}
		case 3:
			n, err := s.u32()
			if err != nil {
				return nil, fmt.Errorf("function section: %w", err)
			}
			for i := uint32(0); i < n; i++ {
				t, err := s.u32()
				if err != nil {
					return nil, fmt.Errorf("function section: %w", err)
				}
				funcs = append(funcs, t)
			}
		case 7:
			n, err := s.u32()
			if err != nil {
				return nil, fmt.Errorf("export section: %w", err)
			}
			for i := uint32(0); i < n; i++ {
				name, err := s.name()
				if err != nil {
					return nil, fmt.Errorf("export section: entry %d: %w", i, err)
				}
				kind, err := s.byte()
				if err != nil {
					return nil, fmt.Errorf("export %q: %w", name, err)
				}
				idx, err := s.u32()
				if err != nil {
					return nil, fmt.Errorf("export %q: %w", name, err)
				}
				exports = append(exports, wasmExport{name: name, kind: kind})
				exportIdx = append(exportIdx, idx)
			}
		}
	}
	for i, ex := range exports {
		if ex.kind == kindFunc {
			idx := exportIdx[i]
			if int(idx) >= len(funcs) || int(funcs[idx]) >= len(types) {
				return nil, fmt.Errorf("export %q: function index %d out of range", ex.name, idx)
			}
			ex.typ = types[funcs[idx]]
		}
		info.exports[ex.name] = ex
	}
	return info, nil
}

func parseTypes(s *wasmReader) ([]abi.Signature, error) {
	n, err := s.u32()
	if err != nil {
		return nil, err
	}
	types := make([]abi.Signature, 0, min(n, 1<<16))
	for i := uint32(0); i < n; i++ {
		form, err := s.byte()
		if err != nil {
			return nil, err
		}
		if form != 0x60 {
			return nil, fmt.Errorf("entry %d: form %#x is not a function type", i, form)
		}
		var ft abi.Signature
		for _, list := range []*[]abi.ValueType{&ft.Params, &ft.Results} {
			k, err := s.u32()
			if err != nil {
				return nil, err
			}
			for j := uint32(0); j < k; j++ {
				v, err := s.byte()
				if err != nil {
					return nil, err
				}
				*list = append(*list, abi.ValueType(v))
			}
		}
		types = append(types, ft)
	}
	return types, nil
}

func parseImport(s *wasmReader) (wasmImport, uint32, error) {
	var imp wasmImport
	var err error
	if imp.module, err = s.name(); err != nil {
		return imp, 0, err
	}
	if imp.name, err = s.name(); err != nil {
		return imp, 0, err
	}
	if imp.kind, err = s.byte(); err != nil {
		return imp, 0, err
	}
	switch imp.kind {
	case kindFunc:
		t, err := s.u32()
		return imp, t, err
	case kindTable:
		if _, err := s.byte(); err != nil {
			return imp, 0, err
		}
		return imp, 0, s.limits()
	case kindMemory:
		return imp, 0, s.limits()
	case kindGlobal:
		if _, err := s.byte(); err != nil {
			return imp, 0, err
		}
		_, err := s.byte()
		return imp, 0, err
	case kindTag:
		if _, err := s.byte(); err != nil {
			return imp, 0, err
		}
		_, err := s.u32()
		return imp, 0, err
	}
	return imp, 0, fmt.Errorf("import %s.%s: unknown kind %d", imp.module, imp.name, imp.kind)
}
