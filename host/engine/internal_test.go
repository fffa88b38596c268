package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/internal/testwasm"
)

func TestCapturedOutput(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"empty", 16, nil, ""},
		{"fits", 16, []string{"ab", "cd"}, "abcd"},
		{"exactly full", 8, []string{"0123", "4567"}, "01234567"},
		{"tail wraps", 8, []string{"01", "2345", "6789", "AB"}, "01\n[... 4 bytes dropped ...]\n6789AB"},
		{"one huge write", 8, []string{"0123456789ABCDEFGHIJ"}, "01\n[... 12 bytes dropped ...]\nEFGHIJ"},
		{"many small writes", 8, strings.Split("abcdefghijklmnopqrstuvwxyz", ""), "ab\n[... 18 bytes dropped ...]\nuvwxyz"},
		{"discard all", 0, []string{"abc"}, "\n[... 3 bytes dropped ...]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newCapturedOutput(tt.max)
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if got := b.take(); got != tt.want {
				t.Errorf("take() = %q, want %q", got, tt.want)
			}
			if got := b.take(); got != "" {
				t.Errorf("second take() = %q, want empty", got)
			}
		})
	}
	if got := shorten("0123456789", 4); got != "01\n[... 6 bytes dropped ...]\n89" {
		t.Errorf("shorten = %q", got)
	}
}

// loadEcho loads the echo guest into a new engine.
func loadEcho(tb testing.TB) (*Engine, *Plugin) {
	tb.Helper()
	wasm := testwasm.Build(tb, "./host/engine/testdata/guests/echo")
	ctx := context.Background()
	e, err := New(ctx, NewConfig())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close(ctx) })
	p, err := e.Load(ctx, wasm, "")
	if err != nil {
		tb.Fatal(err)
	}
	return e, p
}

// TestSDKExports calls the Go SDK's exports directly, the way a careless
// host might.
func TestSDKExports(t *testing.T) {
	_, p := loadEcho(t)
	ctx := context.Background()
	inst, err := p.s.instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.close()
	for _, size := range []int32{-1, abi.MaxMessageSize + 1} {
		if r, err := inst.call(ctx, inst.alloc, api.EncodeI32(size)); err != nil || r != 0 {
			t.Errorf("ppa_alloc(%d) = %d, %v; want 0", size, r, err)
		}
	}
	r0, err := inst.call(ctx, inst.alloc, 0)
	r1, err1 := inst.call(ctx, inst.alloc, 0)
	if err != nil || err1 != nil || r0 == 0 || r0 == r1 {
		t.Errorf("two ppa_alloc(0) = %#x, %#x (%v, %v): want distinct non-zero pointers", r0, r1, err, err1)
	}
	tests := []struct {
		name     string
		ptr, len uint32
		want     string
	}{
		{"pointer not from ppa_alloc", 12345, 8, "ppa_train: request pointer was not returned by ppa_alloc"},
		{"length beyond the buffer", api.DecodeU32(r0), 100, "ppa_train: request length exceeds its ppa_alloc buffer"},
	}
	for _, tt := range tests {
		r, err := inst.call(ctx, inst.train, api.EncodeU32(tt.ptr), api.EncodeU32(tt.len))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		ptr, n := abi.UnpackResult(r)
		b, _ := inst.mem.Read(ptr, n)
		_, err = abi.DecodeResult(b)
		var ae *abi.Error
		if !errors.As(err, &ae) || ae.Status != abi.StatusInvalidArgument || ae.Message != tt.want {
			t.Errorf("%s: %v, want INVALID_ARGUMENT %q", tt.name, err, tt.want)
		}
	}
}

// BenchmarkInstantiate measures creating an instance of a compiled module
// and running its _initialize (the Go runtime's start-up), which a call
// pays when the pool has no idle instance.
func BenchmarkInstantiate(b *testing.B) {
	_, p := loadEcho(b)
	ctx := context.Background()
	for b.Loop() {
		inst, err := p.s.instantiate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		inst.close()
	}
}
