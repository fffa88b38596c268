package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
	e, err := New(ctx, NewConfig().WithIsolation(IsolationInProcess))
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

// TestInterruptible runs a call on a context that is already canceled,
// past the pre-call check: an interruptible engine stops the guest at
// once, an uninterruptible one runs it to the end. Engines of both kinds
// share one cache directory; the interruptible one, which comes after an
// uninterruptible one, must still stop an endless loop at its deadline
// (it would hang here if it ran the cached code without checks). A module
// listed by WithTrustedDigests runs without checks in an interruptible
// engine; other modules of that engine keep them.
func TestInterruptible(t *testing.T) {
	wasm := testwasm.Build(t, "./host/engine/testdata/guests/loop")
	in, err := abi.EncodePredictRequest(&abi.PredictRequest{Model: []byte{1}, Timestamps: []int64{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	other := strings.Repeat("0", 64)
	cases := []struct {
		name          string
		cfg           Config
		interruptible bool
	}{
		{"uninterruptible", NewConfig().WithInterruptible(false), false},
		{"interruptible", NewConfig(), true},
		{"uninterruptible again", NewConfig().WithInterruptible(false), false},
		{"trusted digest", NewConfig().WithTrustedDigests(Digest(wasm)), false},
		{"another module trusted", NewConfig().WithTrustedDigests(other), true},
	}
	for i, tc := range cases {
		interruptible := tc.interruptible
		t.Run(fmt.Sprintf("%d %s", i, tc.name), func(t *testing.T) {
			ctx := context.Background()
			e, err := New(ctx, tc.cfg.WithCacheDir(dir).WithIsolation(IsolationInProcess))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close(ctx)
			p, err := e.Load(ctx, wasm, "")
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(ctx)
			inst, _, err := p.s.pool.get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out, ce := p.s.exchange(canceled, inst.(*instance), abi.ExportPredict, in)
			p.s.pool.put(inst, ce == nil)
			if !interruptible {
				if ce != nil {
					t.Fatalf("call on a canceled context: %v, want it to run to the end", ce)
				}
				if _, err := abi.DecodeResult(out); err != nil {
					t.Fatalf("result: %v", err)
				}
				return
			}
			if ce == nil || ce.Failure != FailureCanceled {
				t.Fatalf("call on a canceled context = %v, want a %s failure", ce, FailureCanceled)
			}
			dctx, stop := context.WithTimeout(ctx, time.Second)
			defer stop()
			_, err = p.Train(dctx, &abi.TrainRequest{Timestamps: []int64{1}, Values: []float64{1}})
			if !errors.As(err, &ce) || ce.Failure != FailureTimeout {
				t.Fatalf("endless train with a deadline = %v, want a %s failure", err, FailureTimeout)
			}
		})
	}
}
