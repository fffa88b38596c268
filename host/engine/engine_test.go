package engine_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/engine/internal/echo"
	"github.com/ppa-autoscaler/ppa/plugins/sdk"
)

func echoPlugin() sdk.Plugin { return echo.Plugin{} }

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  engine.Config
		want string
	}{
		{"zero memory", engine.NewConfig().WithMemoryLimitPages(0), "memory limit of 0 pages"},
		{"memory beyond 4 GiB", engine.NewConfig().WithMemoryLimitPages(65537), "memory limit of 65537 pages"},
		{"zero timeout", engine.NewConfig().WithCallTimeout(0), "call timeout 0s"},
		{"negative output", engine.NewConfig().WithMaxOutputBytes(-1), "max output bytes -1"},
		{"tiny result", engine.NewConfig().WithMaxResultBytes(3), "max result bytes 3"},
		{"zero pool", engine.NewConfig().WithPoolSize(0), "pool size 0"},
		{"bad trusted digest", engine.NewConfig().WithTrustedDigests("sha256:ABC"), `trusted digest "sha256:ABC"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := engine.New(context.Background(), tt.cfg)
			if err == nil {
				e.Close(context.Background())
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	// Setters return copies.
	base := engine.NewConfig()
	_ = base.WithPoolSize(0)
	e, err := engine.New(context.Background(), base)
	if err != nil {
		t.Fatalf("a setter changed the original config: %v", err)
	}
	e.Close(context.Background())
}

func TestLoadDescribes(t *testing.T) {
	e := newEngine(t, testConfig())
	wasm := guest(t, "echo")
	p, err := e.Load(context.Background(), wasm, "sha256:"+strings.ToUpper(engine.Digest(wasm)))
	if err != nil {
		t.Fatalf("load with an upper-case sha256: pin: %v", err)
	}
	defer p.Close(context.Background())
	if p.Digest() != engine.Digest(wasm) || p.ABIVersion() != abi.Version {
		t.Errorf("digest %s, ABI %#x", p.Digest(), p.ABIVersion())
	}
	d := p.Description()
	if d.Name != "echo" || d.Version != "1.0.0" || !d.Capabilities.Intervals || len(d.Parameters) != 2 {
		t.Errorf("description %+v", d)
	}
	if got, want := d, engine.Native(echoPlugin()).Description(); got.Name != want.Name || len(got.Parameters) != len(want.Parameters) || got.Parameters[0].Default != want.Parameters[0].Default {
		t.Errorf("wasm description %+v differs from native %+v", got, want)
	}
	if !strings.HasPrefix(p.String(), "echo 1.0.0 (sha256:"+p.Digest()[:12]) {
		t.Errorf("String() = %q", p)
	}
	checkHealthy(t, p)
}

func TestDigestPin(t *testing.T) {
	e := newEngine(t, testConfig())
	wasm := guest(t, "echo")
	other := strings.Repeat("ab", 32)
	_, err := e.Load(context.Background(), wasm, other)
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch: pinned "+other+", module is "+engine.Digest(wasm)) {
		t.Errorf("load with a wrong pin: %v", err)
	}
	_, err = e.Load(context.Background(), wasm, "abc")
	if err == nil || !strings.Contains(err.Error(), `pinned digest "abc" is not a hex sha256`) {
		t.Errorf("load with a malformed pin: %v", err)
	}
	_, err = e.Load(context.Background(), []byte("\x00asm\x01\x00\x00\x00garbage"), "")
	if err == nil || !strings.Contains(err.Error(), "compile") {
		t.Errorf("load of garbage: %v", err)
	}
}

func TestNativeMatchesWasm(t *testing.T) {
	e := newEngine(t, testConfig())
	p := load(t, e, "echo")
	n := engine.Native(echoPlugin())
	checkHealthy(t, n)
	ctx := context.Background()
	req := trainRequest(abi.Params{"offset": 0.5})
	wt, err1 := p.Train(ctx, req)
	nt, err2 := n.Train(ctx, req)
	if err1 != nil || err2 != nil {
		t.Fatalf("train: wasm %v, native %v", err1, err2)
	}
	if string(wt.Model) != string(nt.Model) || wt.Info["points"] != nt.Info["points"] {
		t.Errorf("wasm train %+v, native %+v", wt, nt)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := n.Train(canceled, req); !errors.Is(err, context.Canceled) {
		t.Errorf("native train with a canceled context: %v", err)
	}
}

func TestPoolReuse(t *testing.T) {
	e := newEngine(t, testConfig().WithPoolSize(2))
	p := load(t, e, "echo")
	for range 20 {
		checkHealthy(t, p)
	}
	st := p.Stats()
	if st.Instantiations != 1 || st.Idle != 1 || st.Busy != 0 || st.Calls != 40 || st.Errors != 0 {
		t.Errorf("after 40 sequential calls: %+v, want the load's instance reused", st)
	}
}

func TestSharedLoads(t *testing.T) {
	e := newEngine(t, testConfig())
	wasm := guest(t, "echo")
	ctx := context.Background()
	const n = 8
	plugins := make([]*engine.Plugin, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { plugins[i], errs[i] = e.Load(ctx, wasm, "") })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent load %d: %v", i, err)
		}
	}
	if st := plugins[0].Stats(); st.Instantiations != 1 {
		t.Errorf("%d concurrent loads instantiated %d times, want one shared load", n, st.Instantiations)
	}
	checkHealthy(t, plugins[3])
	if st := plugins[5].Stats(); st.Calls != 2 {
		t.Errorf("handles do not share stats: %+v", st)
	}
	for _, p := range plugins[1:] {
		p.Close(ctx)
	}
	checkHealthy(t, plugins[0])
	if _, err := plugins[1].Train(ctx, trainRequest(nil)); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("train on a closed handle: %v, want ErrClosed", err)
	}
	plugins[0].Close(ctx)
	plugins[0].Close(ctx) // idempotent
	again, err := e.Load(ctx, wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close(ctx)
	if st := again.Stats(); st.Calls != 0 || st.Instantiations != 1 {
		t.Errorf("load after every handle closed reused old state: %+v", st)
	}
	checkHealthy(t, again)
}

func TestEngineClose(t *testing.T) {
	ctx := context.Background()
	e, err := engine.New(ctx, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.Load(ctx, guest(t, "echo"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Train(ctx, trainRequest(nil)); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("train after engine close: %v, want ErrClosed", err)
	}
	if _, err := e.Load(ctx, guest(t, "echo"), ""); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("load after close: %v, want ErrClosed", err)
	}
	if err := e.Close(ctx); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestPoolWaitsForInstance(t *testing.T) {
	prebuild(t, "loop", "echo")
	e := newEngine(t, testConfig().WithPoolSize(1).WithCallTimeout(time.Minute))
	p := load(t, e, "loop")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Train(ctx, trainRequest(nil))
		done <- err
	}()
	waitUntil(t, "the call to take an instance", func() bool { return p.Stats().Busy > 0 })
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	_, err := p.Predict(short, &abi.PredictRequest{Model: []byte{1}, Timestamps: []int64{1}})
	var ce *engine.CallError
	if !errors.As(err, &ce) || ce.Failure != engine.FailureTimeout || !strings.Contains(err.Error(), "no instance became free") {
		t.Errorf("predict while the only instance is busy: %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("canceled train: %v", err)
	}
	if _, err := p.Predict(context.Background(), &abi.PredictRequest{Model: []byte{1}, Timestamps: []int64{1}}); err != nil {
		t.Errorf("predict once the instance was freed: %v", err)
	}
}

func TestHammer(t *testing.T) {
	prebuild(t, "echo", "trap")
	goroutines, calls := 16, 50
	if testing.Short() {
		goroutines, calls = 4, 10
	}
	var mu sync.Mutex
	var infos []engine.CallInfo
	cfg := testConfig().WithPoolSize(3).WithObserver(func(ci engine.CallInfo) {
		mu.Lock()
		infos = append(infos, ci)
		mu.Unlock()
	})
	e := newEngine(t, cfg)
	p := load(t, e, "echo")
	bad := load(t, e, "trap")
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*calls)
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				offset := float64(g*1000 + i)
				tr, err := p.Train(ctx, trainRequest(abi.Params{"offset": offset}))
				if err != nil {
					errs <- err
					return
				}
				pr, err := p.Predict(ctx, &abi.PredictRequest{Model: tr.Model, Timestamps: []int64{1, 2, 3}})
				if err != nil {
					errs <- err
					return
				}
				if pr.Yhat[2] != 3+offset {
					errs <- errors.New("crossed answers between concurrent calls")
					return
				}
				if i%10 == 0 {
					if _, err := bad.Train(ctx, trainRequest(nil)); err == nil {
						errs <- errors.New("trap guest succeeded")
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := p.Stats()
	if st.Instantiations > 3 || st.Calls != uint64(2*goroutines*calls) || st.Errors != 0 || st.Busy != 0 {
		t.Errorf("stats %+v: want at most 3 instances for %d calls", st, 2*goroutines*calls)
	}
	traps := uint64(goroutines * ((calls + 9) / 10))
	// The load's instance serves the first call; every other call needs a
	// new one because each trap discards its instance.
	if st := bad.Stats(); st.Failures != traps || st.Instantiations != traps {
		t.Errorf("trap guest stats %+v: want %d failures, each on its own instance", st, traps)
	}
	mu.Lock()
	defer mu.Unlock()
	if uint64(len(infos)) != 2*uint64(goroutines*calls)+traps {
		t.Errorf("observer saw %d calls", len(infos))
	}
	for _, ci := range infos {
		if ci.Plugin == "trap" && (ci.Failure != engine.FailureTrap || ci.Err == nil) {
			t.Errorf("observer: %+v", ci)
			break
		}
		if ci.Plugin == "echo" && (ci.Err != nil || ci.Digest != p.Digest() || ci.Duration <= 0) {
			t.Errorf("observer: %+v", ci)
			break
		}
	}
}

func TestCompilationCacheDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	wasm := guest(t, "echo")
	ctx := context.Background()

	e1 := newEngine(t, testConfig().WithCacheDir(dir))
	p1, err := e1.Load(ctx, wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	checkHealthy(t, p1)
	if err := e1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	first := snapshot(t, dir)
	if len(first) == 0 {
		t.Fatal("compilation cache directory is empty after a load")
	}

	e2 := newEngine(t, testConfig().WithCacheDir(dir))
	p2, err := e2.Load(ctx, wasm, "")
	if err != nil {
		t.Fatal(err)
	}
	checkHealthy(t, p2)
	second := snapshot(t, dir)
	if len(second) != len(first) {
		t.Fatalf("cache files %v, then %v: the second engine recompiled", first, second)
	}
	for name, mod := range first {
		if second[name] != mod {
			t.Errorf("cache file %s rewritten by the second engine", name)
		}
	}
}

// snapshot maps every file under dir to its modification time.
func snapshot(t *testing.T, dir string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[path] = fi.ModTime()
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func TestIsolationFlag(t *testing.T) {
	tests := []struct {
		in   string
		want engine.Isolation
		err  string
	}{
		{in: "in-process", want: engine.IsolationInProcess},
		{in: "auto", want: engine.DefaultIsolation()},
		{in: "sandbox", err: `isolation "sandbox": want process, in-process or auto`},
	}
	if engine.DefaultIsolation() == engine.IsolationProcess {
		tests = append(tests, struct {
			in   string
			want engine.Isolation
			err  string
		}{in: "process", want: engine.IsolationProcess})
	}
	for _, tt := range tests {
		var got engine.Isolation
		err := got.Set(tt.in)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("Set(%q) error %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("Set(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := engine.New(context.Background(), engine.NewConfig().WithIsolation("nope")); err == nil ||
		!strings.Contains(err.Error(), `isolation "nope": want "process" or "in-process"`) {
		t.Errorf("New with a bad isolation: %v", err)
	}
}
