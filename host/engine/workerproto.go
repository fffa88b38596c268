package engine

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ppa-autoscaler/ppa/abi"
)

// The host and a worker process exchange frames over two pipes: a 4-byte
// little-endian body length, a 1-byte kind, then the body. Requests and
// results carry the ABI's encoded bytes unchanged (package abi's codec:
// series stay raw little-endian arrays), so the process boundary adds two
// copies through the kernel and no encoding.
const frameHeader = 5

// Frame kinds.
const (
	// host → worker
	frameInit byte = 1 // body: u32 JSON length, workerInit JSON, the wasm bytes
	frameCall byte = 2 // body: u8 method (methodCodes), the encoded request
	// worker → host
	frameCompiled  byte = 3 // compiled and checked; empty body
	frameReady     byte = 4 // instantiated; body: u32 ABI version
	frameLoadError byte = 5 // body: the error text (compile, checks, instantiate)
	frameResult    byte = 6 // body: u8 flags, u32 output length, output, result buffer
	frameFailure   byte = 7 // body: u8 flags, wireError JSON
)

// Flags of frameResult and frameFailure.
const (
	// flagInstantiated: the worker made a fresh instance for the call.
	flagInstantiated byte = 1 << iota
)

// methodCodes numbers the exports a frameCall may name.
var methodCodes = []string{abi.ExportDescribe, abi.ExportTrain, abi.ExportPredict}

// workerInit configures a worker process.
type workerInit struct {
	Digest           string `json:"digest"`
	CacheDir         string `json:"cache_dir"`
	MemoryLimitPages uint32 `json:"memory_limit_pages"`
	MaxOutputBytes   int    `json:"max_output_bytes"`
	MaxResultBytes   int    `json:"max_result_bytes"`
	// AddressSpace is RLIMIT_AS in bytes; 0 leaves it unlimited.
	AddressSpace uint64 `json:"address_space"`
	// CallSeconds is the CPU time one call may use before the worker
	// ends itself (RLIMIT_CPU, a backstop for the host's kill).
	CallSeconds uint64 `json:"call_seconds"`
}

// wireError is a *CallError on the wire.
type wireError struct {
	Method   string  `json:"method"`
	Failure  Failure `json:"failure"`
	ExitCode uint32  `json:"exit_code,omitempty"`
	Detail   string  `json:"detail"`
	Output   string  `json:"output,omitempty"`
	Err      string  `json:"err,omitempty"`
}

func toWire(ce *CallError) wireError {
	w := wireError{Method: ce.Method, Failure: ce.Failure, ExitCode: ce.ExitCode, Detail: ce.Detail, Output: ce.Output}
	if ce.Err != nil {
		w.Err = ce.Err.Error()
	}
	return w
}

func (w wireError) callError() *CallError {
	ce := &CallError{Method: w.Method, Failure: w.Failure, ExitCode: w.ExitCode, Detail: w.Detail, Output: w.Output}
	if w.Err != "" {
		ce.Err = errors.New(w.Err)
	}
	return ce
}

// writeFrame writes one frame whose body is the concatenation of parts.
func writeFrame(w io.Writer, kind byte, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if uint64(n) > 1<<32-1 {
		return fmt.Errorf("frame of %d bytes is too large", n)
	}
	// One write for the header and all but a large last part: a call is
	// then one or two system calls, however many parts it has.
	last := len(parts)
	if last > 0 && len(parts[last-1]) > 64<<10 {
		last--
	}
	size := frameHeader
	for _, p := range parts[:last] {
		size += len(p)
	}
	buf := make([]byte, frameHeader, size)
	binary.LittleEndian.PutUint32(buf, uint32(n))
	buf[4] = kind
	for _, p := range parts[:last] {
		buf = append(buf, p...)
	}
	if _, err := w.Write(buf); err != nil {
		return err
	}
	if last < len(parts) {
		if _, err := w.Write(parts[last]); err != nil {
			return err
		}
	}
	return nil
}

// readFrame reads one frame of at most max body bytes.
func readFrame(r io.Reader, max int) (byte, []byte, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.LittleEndian.Uint32(h[:])
	if uint64(n) > uint64(max) {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds the %d-byte limit", n, max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return h[4], body, nil
}

// encodeInit builds the body of a frameInit.
func encodeInit(cfg workerInit, wasm []byte) ([]byte, []byte, error) {
	j, err := json.Marshal(cfg)
	if err != nil {
		return nil, nil, err
	}
	head := binary.LittleEndian.AppendUint32(nil, uint32(len(j)))
	return append(head, j...), wasm, nil
}

// decodeInit parses the body of a frameInit.
func decodeInit(body []byte) (workerInit, []byte, error) {
	var cfg workerInit
	if len(body) < 4 {
		return cfg, nil, errors.New("init frame: too short")
	}
	n := binary.LittleEndian.Uint32(body)
	if uint64(n) > uint64(len(body)-4) {
		return cfg, nil, errors.New("init frame: configuration overruns the frame")
	}
	if err := json.Unmarshal(body[4:4+n], &cfg); err != nil {
		return cfg, nil, fmt.Errorf("init frame: %w", err)
	}
	return cfg, body[4+n:], nil
}
