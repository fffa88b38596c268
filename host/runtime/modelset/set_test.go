package modelset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/store"
)

// linePlugin forecasts yhat = t (unix seconds) + offset, the offset being
// the model bytes' first byte, with bounds yhat ∓ 1. It counts calls and
// fails on a model "bad".
type linePlugin struct {
	digest string
	calls  atomic.Int64
	points atomic.Int64
	block  chan struct{} // when set, Predict waits for it
	closed atomic.Int64
}

func (p *linePlugin) Digest() string { return p.digest }

func (p *linePlugin) Close(context.Context) error {
	p.closed.Add(1)
	return nil
}

func (p *linePlugin) Description() abi.Description {
	return abi.Description{Name: "line", Version: "1.0.0", Capabilities: abi.Capabilities{Intervals: true}}
}

func (p *linePlugin) Predict(ctx context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error) {
	p.calls.Add(1)
	p.points.Add(int64(len(req.Timestamps)))
	if p.block != nil {
		select {
		case <-p.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if string(req.Model) == "bad" {
		return nil, abi.Errorf(abi.StatusInvalidModel, "bad model")
	}
	r := &abi.PredictResponse{}
	for _, ms := range req.Timestamps {
		y := float64(ms/1000) + float64(req.Model[0])
		r.Yhat = append(r.Yhat, y)
		r.Lower = append(r.Lower, y-1)
		r.Upper = append(r.Upper, y+1)
	}
	return r, nil
}

// fakeLoader hands out linePlugins by digest and counts loads.
type fakeLoader struct {
	mu      sync.Mutex
	plugins map[string]*linePlugin
	loads   int
}

func (l *fakeLoader) Load(_ context.Context, wasm []byte, sha string) (Plugin, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if got := sha256Hex(wasm); got != sha {
		return nil, fmt.Errorf("sha256 mismatch: pinned %s, module is %s", sha, got)
	}
	l.loads++
	if l.plugins == nil {
		l.plugins = map[string]*linePlugin{}
	}
	p := l.plugins[sha]
	if p == nil {
		p = &linePlugin{digest: sha}
		l.plugins[sha] = p
	}
	return p, nil
}

// memSource is a Source over maps, safe for concurrent use.
type memSource struct {
	mu       sync.Mutex
	versions map[string]string         // name -> version to serve
	models   map[string][]byte         // name@version -> bytes
	wasm     map[string][]byte         // plugin digest -> bytes
	fetches  map[string]int            // plugin digest -> fetches
	manifest map[string]store.Manifest // name@version
}

func newMemSource() *memSource {
	return &memSource{versions: map[string]string{}, models: map[string][]byte{}, wasm: map[string][]byte{},
		fetches: map[string]int{}, manifest: map[string]store.Manifest{}}
}

func (s *memSource) put(name, version string, model []byte, wasm string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	digest := sha256Hex([]byte(wasm))
	s.wasm[digest] = []byte(wasm)
	s.models[name+"@"+version] = model
	s.manifest[name+"@"+version] = store.Manifest{
		Model:   store.ModelRef{Namespace: "ns", Name: name},
		Version: version,
		Plugin:  store.PluginRef{Name: "line", Version: "1.0.0", SHA256: digest},
		Data:    store.DataWindow{Step: store.Duration(time.Minute), End: time.Unix(6000, 0)},
	}
	s.versions[name] = version
}

func (s *memSource) String() string { return "memory" }

func (s *memSource) Resolve(context.Context) ([]Want, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Want
	for name, v := range s.versions {
		out = append(out, Want{Name: name, Ref: store.ModelRef{Namespace: "ns", Name: name}, Version: v})
	}
	return out, nil
}

func (s *memSource) FetchModel(_ context.Context, w Want) (Artifact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.models[w.Name+"@"+w.Version]
	if !ok {
		return Artifact{}, fmt.Errorf("model %s version %s: %w", w.Name, w.Version, store.ErrNotFound)
	}
	return Artifact{Manifest: s.manifest[w.Name+"@"+w.Version], Model: b}, nil
}

func (s *memSource) FetchPlugin(_ context.Context, _ Want, m store.Manifest) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches[m.Plugin.SHA256]++
	return s.wasm[m.Plugin.SHA256], nil
}

func newTestSet(t *testing.T, src Source, cache CacheConfig, now func() time.Time) (*Set, *fakeLoader) {
	t.Helper()
	l := &fakeLoader{}
	s, err := New(Config{Source: src, Loader: l, Cache: cache, Now: now, Concurrency: 3})
	if err != nil {
		t.Fatal(err)
	}
	return s, l
}

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

func TestSyncLoadsSwapsAndKeepsOldOnFailure(t *testing.T) {
	ctx := context.Background()
	src := newMemSource()
	src.put("a", "v1", []byte{1}, "wasm-1")
	src.put("b", "v1", []byte{2}, "wasm-1")
	s, loader := newTestSet(t, src, CacheConfig{}, fixed(time.Unix(6000, 0)))
	if s.Ready() {
		t.Fatal("ready before the first sync")
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.Ready() {
		t.Fatalf("not ready after sync: %+v", s.Statuses())
	}
	a1, state := s.Get("a")
	if state != StateReady || a1.Version() != "v1" || a1.Step != 60 {
		t.Fatalf("a: %v %+v", state, a1)
	}
	b, _ := s.Get("b")
	if a1.Plugin != b.Plugin || loader.loads != 1 || src.fetches[a1.Plugin.Digest()] != 1 {
		t.Fatalf("models of one plugin do not share it: loads %d, fetches %v", loader.loads, src.fetches)
	}

	// A new version swaps in; the old Model value stays usable.
	src.put("a", "v2", []byte{10}, "wasm-1")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	a2, _ := s.Get("a")
	if a2.Version() != "v2" {
		t.Fatalf("a serves %s after reload", a2.Version())
	}
	f, _, err := a1.Forecast(ctx, 6000, 60, 1, time.Unix(6000, 0))
	if err != nil || f.Yhat[0] != 6001 {
		t.Fatalf("old version after the swap: %v %v", f, err)
	}
	f, _, err = a2.Forecast(ctx, 6000, 60, 1, time.Unix(6000, 0))
	if err != nil || f.Yhat[0] != 6010 {
		t.Fatalf("new version: %v %v", f, err)
	}

	// A version that fails its load check, one whose plugin digest does
	// not match, and one that does not exist: each keeps v2 serving.
	for _, c := range []struct {
		name  string
		setup func()
		msg   string
	}{
		{"bad model", func() { src.put("a", "v3", []byte("bad"), "wasm-1") }, "load check"},
		{"wrong plugin bytes", func() {
			src.put("a", "v4", []byte{1}, "wasm-2")
			src.mu.Lock()
			src.wasm[sha256Hex([]byte("wasm-2"))] = []byte("tampered")
			src.mu.Unlock()
		}, "sha256 mismatch"},
		{"missing version", func() {
			src.mu.Lock()
			src.versions["a"] = "v9"
			src.mu.Unlock()
		}, "not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.setup()
			if err := s.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			m, state := s.Get("a")
			if state != StateReady || m.Version() != "v2" {
				t.Fatalf("serving %v %s, want v2", state, m.Version())
			}
			st := statusOf(t, s, "a")
			if !strings.Contains(st.LastError, c.msg) || st.Failures == 0 {
				t.Fatalf("status %+v does not record %q", st, c.msg)
			}
			if !s.Ready() {
				t.Fatal("a failed reload made the set not ready")
			}
		})
	}
	if st := statusOf(t, s, "a"); st.Loads != 2 {
		t.Fatalf("loads = %d, want 2", st.Loads)
	}
}

func statusOf(t *testing.T, s *Set, name string) Status {
	t.Helper()
	for _, st := range s.Statuses() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status for %s", name)
	return Status{}
}

func TestReadinessWaitsForEveryModel(t *testing.T) {
	ctx := context.Background()
	src := newMemSource()
	src.put("a", "v1", []byte{1}, "wasm")
	src.versions["b"] = "v1" // listed, not fetchable
	s, _ := newTestSet(t, src, CacheConfig{}, fixed(time.Unix(6000, 0)))
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s.Ready() {
		t.Fatal("ready with model b missing")
	}
	if _, state := s.Get("b"); state != StateLoading {
		t.Fatalf("b: %v", state)
	}
	if _, state := s.Get("c"); state != StateUnknown {
		t.Fatalf("c: %v", state)
	}
	src.put("b", "v1", []byte{2}, "wasm")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !s.Ready() {
		t.Fatal("not ready with both loaded")
	}

	// Unload takes b out of serving and out of readiness; Load brings it
	// back.
	if err := s.Unload("b"); err != nil {
		t.Fatal(err)
	}
	if _, state := s.Get("b"); state != StateUnloaded {
		t.Fatalf("b after unload: %v", state)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, state := s.Get("b"); state != StateUnloaded {
		t.Fatalf("sync reloaded an unloaded model: %v", state)
	}
	if !s.Ready() {
		t.Fatal("an unloaded model counts against readiness")
	}
	if err := s.Load(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, state := s.Get("b"); state != StateReady {
		t.Fatalf("b after load: %v", state)
	}
	if err := s.Unload("zzz"); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("unload of an unknown model: %v", err)
	}
}

func TestForecastCache(t *testing.T) {
	ctx := context.Background()
	src := newMemSource()
	src.put("a", "v1", []byte{0}, "wasm")
	now := time.Unix(1_000_000_030, 0) // 30 s past a minute
	s, loader := newTestSet(t, src, CacheConfig{Window: time.Hour, Timeout: time.Minute}, fixed(now))
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Get("a")
	p := loader.plugins[m.Plugin.Digest()]
	base := p.calls.Load() // the load check
	anchor := int64(1_000_000_020)

	cases := []struct {
		name       string
		start      int64
		step       int64
		n          int
		cacheable  bool
		hit        bool
		extraCalls int64
	}{
		{"first aligned request computes the curve", anchor, 60, 10, true, false, 1},
		{"same request hits", anchor, 60, 10, true, true, 0},
		{"later start inside the window hits", anchor + 600, 60, 5, true, true, 0},
		{"coarser step hits with a stride", anchor, 300, 12, true, true, 0},
		{"whole window hits", anchor, 60, 61, true, true, 0},
		{"beyond the window misses and calls the plugin", anchor, 60, 62, true, false, 1},
		{"before the window misses", anchor - 60, 60, 2, true, false, 1},
		{"unaligned start is not cacheable", anchor + 1, 60, 2, false, false, 1},
		{"finer step is not cacheable", anchor, 30, 2, false, false, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := p.calls.Load()
			f, st, err := m.Forecast(ctx, c.start, c.step, c.n, now)
			if err != nil {
				t.Fatal(err)
			}
			if st.Cacheable != c.cacheable || st.CacheHit != c.hit {
				t.Fatalf("stats %+v, want cacheable %v hit %v", st, c.cacheable, c.hit)
			}
			if got := p.calls.Load() - before; got != c.extraCalls {
				t.Fatalf("%d plugin calls, want %d", got, c.extraCalls)
			}
			if len(f.DS) != c.n || len(f.Yhat) != c.n || len(f.Lower) != c.n || len(f.Upper) != c.n {
				t.Fatalf("lengths %d %d %d %d, want %d", len(f.DS), len(f.Yhat), len(f.Lower), len(f.Upper), c.n)
			}
			for i := range f.DS {
				want := c.start + int64(i)*c.step
				if f.DS[i] != want || f.Yhat[i] != float64(want) || f.Lower[i] != float64(want-1) || f.Upper[i] != float64(want+1) {
					t.Fatalf("point %d: ds %d yhat %v [%v, %v], want ds %d", i, f.DS[i], f.Yhat[i], f.Lower[i], f.Upper[i], want)
				}
			}
		})
	}
	if got := p.calls.Load() - base; got != 5 {
		t.Fatalf("%d plugin calls in all, want 5", got)
	}

	// Time moves on: a request past the window re-anchors the curve once.
	later := now.Add(50 * time.Minute)
	laterAnchor := anchor + 50*60
	before := p.calls.Load()
	if _, st, err := m.Forecast(ctx, laterAnchor, 60, 30, later); err != nil || st.CacheHit {
		t.Fatalf("re-anchoring: %+v %v", st, err)
	}
	if _, st, err := m.Forecast(ctx, laterAnchor, 60, 30, later); err != nil || !st.CacheHit {
		t.Fatalf("after re-anchoring: %+v %v", st, err)
	}
	if got := p.calls.Load() - before; got != 1 {
		t.Fatalf("%d plugin calls to re-anchor, want 1", got)
	}

	// A reload brings a fresh, empty cache.
	src.put("a", "v2", []byte{5}, "wasm")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	m2, _ := s.Get("a")
	f, st, err := m2.Forecast(ctx, laterAnchor, 60, 3, later)
	if err != nil || st.CacheHit || f.Yhat[0] != float64(laterAnchor+5) {
		t.Fatalf("after reload: %+v %v %v", st, f, err)
	}
}

// TestForecastCacheComputesOnce lets many requests miss at once: the
// plugin computes the curve once and all of them get it.
func TestForecastCacheComputesOnce(t *testing.T) {
	ctx := context.Background()
	src := newMemSource()
	src.put("a", "v1", []byte{0}, "wasm")
	now := time.Unix(1_000_000_020, 0)
	s, loader := newTestSet(t, src, CacheConfig{Window: time.Hour, Timeout: time.Minute}, fixed(now))
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	m, _ := s.Get("a")
	p := loader.plugins[m.Plugin.Digest()]
	p.block = make(chan struct{})
	before := p.calls.Load()
	n := 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, _, err := m.Forecast(ctx, now.Unix(), 60, 10, now)
			if err == nil && f.Yhat[9] != float64(now.Unix()+540) {
				err = fmt.Errorf("wrong value %v", f.Yhat[9])
			}
			errs <- err
		}()
	}
	// Wait until the one computation is running, then let it finish.
	deadline := time.Now().Add(time.Minute)
	for p.calls.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("timed out after a minute waiting for the forecast computation to start")
		}
		time.Sleep(time.Millisecond)
	}
	close(p.block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := p.calls.Load() - before; got != 1 {
		t.Fatalf("%d plugin calls for %d concurrent misses, want 1", got, n)
	}
}

func TestParseModelSpec(t *testing.T) {
	for _, c := range []struct {
		in, def string
		want    string
		err     string
	}{
		{"ns/cpu", "", "ns/cpu", ""},
		{"ns/cpu@v1", "", "ns/cpu@v1", ""},
		{"cpu", "default", "default/cpu", ""},
		{"cpu@20260101T000000.000Z-abcdef", "team", "team/cpu@20260101T000000.000Z-abcdef", ""},
		{"cpu", "", "", "want NAMESPACE/NAME"},
		{"ns/cpu@", "", "", "empty version"},
		{"ns/", "", "", "name is empty"},
		{"ns/c pu", "", "", "only letters"},
	} {
		got, err := ParseModelSpec(c.in, c.def)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseModelSpec(%q) error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("ParseModelSpec(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestFloorDivMod(t *testing.T) {
	for _, c := range []struct{ a, b, q, m int64 }{
		{7, 3, 2, 1}, {-7, 3, -3, 2}, {6, 3, 2, 0}, {-6, 3, -2, 0}, {0, 60, 0, 0}, {-1, 60, -1, 59},
	} {
		if q, m := floorDiv(c.a, c.b), floorMod(c.a, c.b); q != c.q || m != c.m {
			t.Errorf("floor(%d/%d) = %d rem %d, want %d rem %d", c.a, c.b, q, m, c.q, c.m)
		}
	}
}

// TestUnusedPluginIsClosedAfterGrace upgrades a model to another plugin:
// the old plugin stays open for the grace period, then is closed once.
func TestUnusedPluginIsClosedAfterGrace(t *testing.T) {
	ctx := context.Background()
	src := newMemSource()
	src.put("a", "v1", []byte{1}, "wasm-1")
	src.put("b", "v1", []byte{1}, "wasm-2")
	tick := time.Unix(0, 0)
	l := &fakeLoader{}
	s, err := New(Config{Source: src, Loader: l, PluginGrace: time.Minute, Tick: func() time.Time { return tick }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	old := l.plugins[sha256Hex([]byte("wasm-1"))]
	src.put("a", "v2", []byte{1}, "wasm-2")
	for _, c := range []struct {
		advance time.Duration
		closed  int64
	}{
		{0, 0},                // now unused
		{59 * time.Second, 0}, // within the grace
		{time.Second, 1},      // grace over
		{time.Hour, 1},        // closed once
	} {
		tick = tick.Add(c.advance)
		if err := s.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		if got := old.closed.Load(); got != c.closed {
			t.Fatalf("at %s: closed %d times, want %d", tick, got, c.closed)
		}
	}
	if got := l.plugins[sha256Hex([]byte("wasm-2"))].closed.Load(); got != 0 {
		t.Fatalf("the plugin in use was closed %d times", got)
	}
	// The old plugin comes back: it is loaded again.
	src.put("a", "v3", []byte{1}, "wasm-1")
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.Get("a"); m.Version() != "v3" || l.loads != 3 {
		t.Fatalf("serving %s after %d loads", m.Version(), l.loads)
	}
}
