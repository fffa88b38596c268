package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
)

var hostileGuests = []string{
	"echo", "loop", "oom", "gopanic", "rawpanic", "trap", "abort", "exit", "noexport",
	"badsig", "badimport", "badversion", "badptr", "oversized", "stdout", "sandbox",
}

// isolations are the ways untrusted modules run; the hostile suite runs
// in each.
var isolations = []engine.Isolation{engine.IsolationProcess, engine.IsolationInProcess}

// forEachIsolation runs f as a subtest per isolation.
func forEachIsolation(t *testing.T, f func(t *testing.T, iso engine.Isolation)) {
	for _, iso := range isolations {
		t.Run(string(iso), func(t *testing.T) { f(t, iso) })
	}
}

// hostileConfig is small enough that limits are reached quickly.
func hostileConfig(iso engine.Isolation) engine.Config {
	return testConfig().WithIsolation(iso).
		WithMemoryLimitPages(1024). // 64 MiB
		WithCallTimeout(5 * time.Second).
		WithMaxOutputBytes(4 << 10).
		WithMaxResultBytes(1 << 20).
		WithPoolSize(2)
}

func TestLoadRejects(t *testing.T) {
	prebuild(t, hostileGuests...)
	forEachIsolation(t, testLoadRejects)
}

func testLoadRejects(t *testing.T, iso engine.Isolation) {
	e := newEngine(t, hostileConfig(iso))
	healthy := load(t, e, "echo")
	tests := []struct {
		guest string
		want  []string
	}{
		{"noexport", []string{"missing export ppa_predict"}},
		{"badsig", []string{"export ppa_train has signature (i32, i64) -> i64, want (i32, i32) -> i64"}},
		{"badimport", []string{"imports function env.http_get", "only wasi_snapshot_preview1 and env.abort"}},
		{"badversion", []string{"plugin ABI version 2.0.0 is not supported", "ABI 1.x"}},
	}
	for _, tt := range tests {
		t.Run(tt.guest, func(t *testing.T) {
			p, err := e.Load(context.Background(), guest(t, tt.guest), "")
			if err == nil {
				p.Close(context.Background())
				t.Fatalf("Load succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			checkHealthy(t, healthy)
		})
	}
}

func TestHostileCalls(t *testing.T) {
	prebuild(t, hostileGuests...)
	forEachIsolation(t, testHostileCalls)
}

func testHostileCalls(t *testing.T, iso engine.Isolation) {
	var logs logBuffer
	cfg := hostileConfig(iso).WithLogger(debugLogger(&logs))
	e := newEngine(t, cfg)
	healthy := load(t, e, "echo")
	train := func(ctx context.Context, p *engine.Plugin) error {
		_, err := p.Train(ctx, trainRequest(nil))
		return err
	}
	predict := func(ctx context.Context, p *engine.Plugin) error {
		_, err := p.Predict(ctx, &abi.PredictRequest{Model: []byte{1}, Timestamps: []int64{1, 2}})
		return err
	}
	tests := []struct {
		name        string
		guest       string
		call        func(context.Context, *engine.Plugin) error
		failure     engine.Failure
		exitCode    uint32
		deadline    bool     // errors.Is(err, context.DeadlineExceeded)
		want        []string // in err.Error()
		wantOutput  string   // in CallError.Output
		recoverable bool     // predict on the same plugin works afterwards
	}{
		{name: "endless loop", guest: "loop", call: train, failure: engine.FailureTimeout, deadline: true,
			want: []string{"plugin loop 1.0.0", "ppa_train", "stopped after the 5s call timeout", "context deadline exceeded"}, recoverable: true},
		// A fatal error of the Go runtime in a reactor module ends in
		// runtime.abort, an unreachable instruction: a trap.
		{name: "memory growth past the cap", guest: "oom", call: train, failure: engine.FailureTrap,
			want: []string{"plugin oom 1.0.0", "ppa_train: trap", "the memory limit is reached", "out of memory"}, wantOutput: "fatal error: out of memory", recoverable: true},
		{name: "panic in a goroutine", guest: "gopanic", call: train, failure: engine.FailureTrap,
			want: []string{"ppa_train: trap", "unreachable", "panic: escaped from train"}, wantOutput: "panic: escaped from train", recoverable: true},
		{name: "panic in a raw export", guest: "rawpanic", call: train, failure: engine.FailureTrap,
			want: []string{"ppa_train: trap", "panic: raw export panicked"}, wantOutput: "panic: raw export panicked"},
		{name: "wild pointer trap", guest: "trap", call: train, failure: engine.FailureTrap,
			want: []string{"plugin trap 1.0.0", "ppa_train: trap", "out of bounds memory access"}, recoverable: true},
		{name: "env.abort", guest: "abort", call: train, failure: engine.FailureTrap,
			want: []string{"abort: assertion failed: season > 0 at assembly/index.ts:42:7"}, recoverable: true},
		{name: "proc_exit", guest: "exit", call: train, failure: engine.FailureExit, exitCode: 3,
			want: []string{"exited with code 3", "giving up"}, wantOutput: "giving up: exiting with code 3", recoverable: true},
		{name: "result outside memory", guest: "badptr", call: train, failure: engine.FailureProtocol,
			want: []string{"result at 0xfffffff0 of 64 bytes lies outside the"}},
		{name: "empty result", guest: "badptr", call: predict, failure: engine.FailureProtocol,
			want: []string{"result of 0 bytes at 0x0: shorter than its 4-byte status"}},
		{name: "oversized result", guest: "oversized", call: predict, failure: engine.FailureProtocol,
			want: []string{"exceeds the 1048576-byte limit"}},
		{name: "stdout flood then exit", guest: "stdout", call: predict, failure: engine.FailureExit, exitCode: 7,
			want: []string{"exited with code 7", "predict: fatal, exiting"}, wantOutput: "predict line 99\npredict: fatal, exiting\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, e, tt.guest)
			before := p.Stats()
			start := time.Now()
			err := tt.call(context.Background(), p)
			if tt.failure == engine.FailureTimeout {
				// Loosely checked (machines are noisy); the figure is logged.
				over := time.Since(start) - 5*time.Second
				t.Logf("%s: runaway call ended %v after its 5s limit", iso, over)
				if over > 5*time.Second {
					t.Errorf("runaway call ended %v after its limit", over)
				}
			}
			if err == nil {
				t.Fatal("call succeeded, want an error")
			}
			var ce *engine.CallError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *engine.CallError", err, err)
			}
			if ce.Failure != tt.failure {
				t.Errorf("failure %q, want %q (error: %v)", ce.Failure, tt.failure, err)
			}
			if ce.ExitCode != tt.exitCode {
				t.Errorf("exit code %d, want %d", ce.ExitCode, tt.exitCode)
			}
			if got := errors.Is(err, context.DeadlineExceeded); got != tt.deadline {
				t.Errorf("errors.Is(err, context.DeadlineExceeded) = %v, want %v", got, tt.deadline)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !strings.Contains(ce.Output, tt.wantOutput) {
				t.Errorf("output %q does not contain %q", ce.Output, tt.wantOutput)
			}
			if len(ce.Output) > 4<<10+64 {
				t.Errorf("captured output is %d bytes, above the 4 KiB cap", len(ce.Output))
			}
			// A worker process survives its guest's failures (it drops the
			// instance and makes a new one on the next call); a timeout
			// kills it.
			wantIdle := 0
			if iso == engine.IsolationProcess && tt.failure != engine.FailureTimeout {
				wantIdle = 1
			}
			after := p.Stats()
			if after.Failures != before.Failures+1 || after.Idle != wantIdle || after.Busy != 0 {
				t.Errorf("stats after the failure = %+v, want one more failure and %d idle", after, wantIdle)
			}
			if tt.recoverable {
				if err := predict(context.Background(), p); err != nil {
					t.Errorf("predict on a fresh instance after the failure: %v", err)
				}
			}
			checkHealthy(t, healthy)
		})
	}
	if !strings.Contains(logs.String(), "instance discarded") {
		t.Errorf("debug log does not record discarded instances")
	}
}

func TestCallerContext(t *testing.T) {
	prebuild(t, "echo", "loop")
	forEachIsolation(t, testCallerContext)
}

func testCallerContext(t *testing.T, iso engine.Isolation) {
	e := newEngine(t, hostileConfig(iso).WithCallTimeout(time.Minute))
	p := load(t, e, "loop")
	healthy := load(t, e, "echo")

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := p.Train(ctx, trainRequest(nil))
	var ce *engine.CallError
	if !errors.As(err, &ce) || ce.Failure != engine.FailureTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("train with a caller deadline: %v, want a timeout wrapping context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "caller's deadline") {
		t.Errorf("error %q does not say the caller's deadline passed", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Train(ctx, trainRequest(nil))
		done <- err
	}()
	waitUntil(t, "the call to take an instance", func() bool { return p.Stats().Busy > 0 })
	cancel()
	err = <-done
	if !errors.As(err, &ce) || ce.Failure != engine.FailureCanceled || !errors.Is(err, context.Canceled) {
		t.Fatalf("train canceled by the caller: %v, want a cancellation wrapping context.Canceled", err)
	}
	if _, err := p.Train(ctx, trainRequest(nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("train with a canceled context: %v", err)
	}
	if st := p.Stats(); st.Failures != 3 || st.Instantiations != 2 {
		t.Errorf("stats %+v: want 3 failed calls of which the last one used no instance", st)
	}
	checkHealthy(t, healthy)
}

func TestPluginStatuses(t *testing.T) {
	prebuild(t, "echo")
	forEachIsolation(t, testPluginStatuses)
}

func testPluginStatuses(t *testing.T, iso engine.Isolation) {
	e := newEngine(t, hostileConfig(iso))
	p := load(t, e, "echo")
	native := engine.Native(echoPlugin())
	tests := []struct {
		name    string
		params  abi.Params
		model   []byte // for predict; nil means train
		status  abi.Status
		message string
	}{
		{name: "chosen status", params: abi.Params{"fail": "status:2"}, status: abi.StatusInsufficientData, message: "asked to fail with status 2"},
		{name: "unknown status is internal", params: abi.Params{"fail": "status:9"}, status: abi.StatusInternal, message: "status 9: asked to fail with status 9"},
		{name: "plain error", params: abi.Params{"fail": "error"}, status: abi.StatusInternal, message: "asked to fail with a plain error"},
		{name: "recovered panic", params: abi.Params{"fail": "panic"}, status: abi.StatusInternal, message: "ppa_train: panic: asked to panic"},
		{name: "recovered nil dereference", params: abi.Params{"fail": "nil"}, status: abi.StatusInternal, message: "nil pointer dereference"},
		{name: "unknown parameter", params: abi.Params{"nope": 1.0}, status: abi.StatusInvalidArgument, message: `parameter "nope": unknown to plugin echo`},
		{name: "bad model", model: []byte{1, 2}, status: abi.StatusInvalidModel, message: "model of 2 bytes, want 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range []engine.Forecaster{p, native} {
				var err error
				if tt.model != nil {
					_, err = f.Predict(context.Background(), &abi.PredictRequest{Model: tt.model, Timestamps: []int64{1}})
				} else {
					_, err = f.Train(context.Background(), trainRequest(tt.params))
				}
				var ae *abi.Error
				if !errors.As(err, &ae) {
					t.Fatalf("%T: error %v is not an *abi.Error", f, err)
				}
				if ae.Status != tt.status || !strings.Contains(ae.Message, tt.message) {
					t.Errorf("%T: got %s %q, want %s containing %q", f, ae.Status, ae.Message, tt.status, tt.message)
				}
			}
		})
	}
	if st := p.Stats(); st.Instantiations != 1 || st.Failures != 0 || st.Errors != uint64(len(tests)) {
		t.Errorf("stats %+v: want one instance kept through %d ABI errors", st, len(tests))
	}
}

func TestOutputCapture(t *testing.T) {
	prebuild(t, "stdout", "echo")
	forEachIsolation(t, testOutputCapture)
}

func testOutputCapture(t *testing.T, iso engine.Isolation) {
	var logs logBuffer
	e := newEngine(t, hostileConfig(iso).WithLogger(debugLogger(&logs)))
	p := load(t, e, "stdout")
	if _, err := p.Train(context.Background(), trainRequest(nil)); err != nil {
		t.Fatalf("train that writes 1 MiB of output: %v", err)
	}
	log := logs.String()
	for _, w := range []string{`"msg":"plugin output"`, `bytes dropped`, `train: last words`} {
		if !strings.Contains(log, w) {
			t.Errorf("debug log lacks %q", w)
		}
	}
	if len(log) > 16<<10 {
		t.Errorf("debug log is %d bytes: output was not capped", len(log))
	}
}

func TestSandbox(t *testing.T) {
	prebuild(t, "sandbox")
	forEachIsolation(t, testSandbox)
}

func testSandbox(t *testing.T, iso engine.Isolation) {
	e := newEngine(t, hostileConfig(iso))
	p := load(t, e, "sandbox")
	tr, err := p.Train(context.Background(), trainRequest(nil))
	if err != nil {
		t.Fatal(err)
	}
	info := tr.Info
	for _, k := range []string{"open_error", "readdir_error", "write_error", "dial_error"} {
		if s, _ := info[k].(string); s == "" {
			t.Errorf("%s is empty: the plugin reached the host (info %v)", k, info)
		}
	}
	if info["home"] != "" || info["environ"] != 0.0 || info["args"] != 0.0 {
		t.Errorf("environment leaked: HOME=%v, %v variables, %v args", info["home"], info["environ"], info["args"])
	}
	// wazero's fake wall clock starts at 2022-01-01T00:00:00Z and advances
	// 1 ms per reading: no host time reaches the plugin.
	const fakeEpochMs = 1640995200000
	if now, _ := info["now_ms"].(float64); now < fakeEpochMs || now > fakeEpochMs+86_400_000 {
		t.Errorf("plugin clock reads %v ms, want wazero's fake clock near %d", info["now_ms"], fakeEpochMs)
	}
	if info["rand_error"] != "" {
		t.Errorf("random source: %v", info["rand_error"])
	}
	// A fresh engine gives a fresh instance the same random stream.
	p2 := load(t, newEngine(t, hostileConfig(iso)), "sandbox")
	tr2, err := p2.Train(context.Background(), trainRequest(nil))
	if err != nil {
		t.Fatal(err)
	}
	if tr2.Info["rand"] != info["rand"] {
		t.Errorf("random bytes %v then %v: want the same deterministic stream", info["rand"], tr2.Info["rand"])
	}
}
