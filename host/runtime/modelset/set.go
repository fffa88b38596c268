// Package modelset loads the models a runtime serves and keeps them current.
//
// A Set asks a Source (a store, or KServe's model directory) which version
// of each model should serve, fetches what changed, verifies digests,
// compiles the plugin once per digest (sharing it between every model that
// uses it) and swaps the new version in atomically: requests in flight keep
// the version they started with, and a version that fails to load is logged
// while the previous one keeps serving. Each loaded version carries its own
// forecast cache, so a reload invalidates it.
package modelset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ppa-autoscaler/ppa/host/store"
)

// Defaults of Config.
const (
	// DefaultLoadTimeout bounds loading one model version (fetch, compile,
	// check).
	DefaultLoadTimeout = 2 * time.Minute
	// DefaultConcurrency is how many model versions load at once.
	DefaultConcurrency = 4
	// DefaultPluginGrace is how long an unused plugin stays open.
	DefaultPluginGrace = 5 * time.Minute
)

// Config configures a Set.
type Config struct {
	// Source lists and fetches models. Required.
	Source Source
	// Loader compiles plugins. Required.
	Loader Loader
	// Cache configures each model's forecast cache (zero Window: none).
	Cache CacheConfig
	// LoadTimeout bounds loading one version; default DefaultLoadTimeout.
	LoadTimeout time.Duration
	// Concurrency is how many versions load at once; default
	// DefaultConcurrency.
	Concurrency int
	// PluginGrace is how long a plugin no model uses any more stays open
	// (requests that picked the previous version just before a swap may
	// still call it); then it is closed if it implements Closer. Default
	// DefaultPluginGrace.
	PluginGrace time.Duration
	// Now is the clock (LoadedAt, the load check's time); default time.Now.
	Now func() time.Time
	// Tick measures durations for metrics; default time.Now.
	Tick func() time.Time
	// Logger receives load and reload events; default: discard.
	Logger *slog.Logger
}

// State is what a Set knows about a model name.
type State int

// States of a model name.
const (
	// StateUnknown: no such model.
	StateUnknown State = iota
	// StateLoading: the model is known but no version has loaded yet (or
	// every attempt failed).
	StateLoading
	// StateReady: a version is loaded and serving.
	StateReady
	// StateUnloaded: the model was unloaded through the repository API.
	StateUnloaded
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateLoading:
		return "LOADING"
	case StateReady:
		return "READY"
	case StateUnloaded:
		return "UNLOADED"
	}
	return "UNKNOWN"
}

// Status describes one model of the set.
type Status struct {
	Name  string
	Ref   store.ModelRef
	State State
	// Version is the serving version ("" when none).
	Version string
	// Plugin and PluginVersion name the serving version's plugin.
	Plugin, PluginVersion string
	// Loads counts versions loaded, Failures failed attempts.
	Loads, Failures uint64
	// LastError is the latest failure to resolve or load a version, or "".
	LastError string
	// FallbackFrom, when not empty, is the version that should serve but
	// failed to load while no version was serving: an older version serves
	// instead (Version), and FallbackReason says why.
	FallbackFrom, FallbackReason string
	// Fallbacks counts the times an older version was loaded that way.
	Fallbacks uint64
}

// Set is the collection of served models. It is safe for concurrent use.
type Set struct {
	cfg Config
	log *slog.Logger

	syncMu sync.Mutex // one Sync at a time

	mu      sync.RWMutex
	entries map[string]*entry
	synced  bool

	pmu     sync.Mutex
	plugins map[string]*pluginFlight // by digest
}

type entry struct {
	name string
	cur  atomic.Pointer[Model]

	mu       sync.Mutex
	ref      store.ModelRef
	unloaded bool
	loads    uint64
	failures uint64
	lastErr  string
	// fallbackFrom and fallbackReason describe the version that failed
	// while an older one was loaded in its place (see Status).
	fallbackFrom, fallbackReason string
	fallbacks                    uint64
}

type pluginFlight struct {
	done chan struct{}
	p    Plugin
	err  error
	// unusedSince is when a sync first found no model using the plugin
	// (zero while used); guarded by Set.pmu.
	unusedSince time.Time
}

// Closer is implemented by plugins that hold resources (the engine's):
// the set closes a plugin no model has used for PluginGrace.
type Closer interface {
	Close(ctx context.Context) error
}

// New returns an empty Set; call Sync (or Run) to load models.
func New(cfg Config) (*Set, error) {
	if cfg.Source == nil {
		return nil, errors.New("model set: no source")
	}
	if cfg.Loader == nil {
		return nil, errors.New("model set: no plugin loader")
	}
	if cfg.LoadTimeout <= 0 {
		cfg.LoadTimeout = DefaultLoadTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.PluginGrace <= 0 {
		cfg.PluginGrace = DefaultPluginGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick == nil {
		cfg.Tick = time.Now
	}
	if cfg.Cache.Timeout <= 0 {
		cfg.Cache.Timeout = DefaultLoadTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Set{cfg: cfg, log: log, entries: map[string]*entry{}, plugins: map[string]*pluginFlight{}}, nil
}

// Get returns the serving version of the named model, or nil with the
// reason.
func (s *Set) Get(name string) (*Model, State) {
	s.mu.RLock()
	e := s.entries[name]
	s.mu.RUnlock()
	if e == nil {
		return nil, StateUnknown
	}
	if m := e.cur.Load(); m != nil {
		return m, StateReady
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.unloaded {
		return nil, StateUnloaded
	}
	return nil, StateLoading
}

// Synced reports whether the set has listed its models and tried to load
// them at least once.
func (s *Set) Synced() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.synced
}

// Ready reports whether the set has listed its models at least once and
// every model not explicitly unloaded has a version serving.
func (s *Set) Ready() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if !s.synced || len(s.entries) == 0 {
		return false
	}
	for _, e := range s.entries {
		if e.cur.Load() == nil && !e.isUnloaded() {
			return false
		}
	}
	return true
}

func (e *entry) isUnloaded() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.unloaded
}

// Statuses describes every model, sorted by name.
func (s *Set) Statuses() []Status {
	s.mu.RLock()
	entries := make([]*entry, 0, len(s.entries))
	for _, e := range s.entries {
		entries = append(entries, e)
	}
	s.mu.RUnlock()
	out := make([]Status, 0, len(entries))
	for _, e := range entries {
		m := e.cur.Load()
		e.mu.Lock()
		st := Status{Name: e.name, Ref: e.ref, Loads: e.loads, Failures: e.failures, LastError: e.lastErr, State: StateLoading,
			FallbackFrom: e.fallbackFrom, FallbackReason: e.fallbackReason, Fallbacks: e.fallbacks}
		if e.unloaded {
			st.State = StateUnloaded
		}
		e.mu.Unlock()
		if m != nil {
			st.State = StateReady
			st.Version = m.Version()
			st.Plugin = m.Manifest.Plugin.Name
			st.PluginVersion = m.Manifest.Plugin.Version
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run syncs now and then every interval until ctx is done. Failures are
// logged; it returns ctx's error.
func (s *Set) Run(ctx context.Context, interval time.Duration) error {
	for {
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("listing models failed; serving what is loaded", "source", s.cfg.Source.String(), "err", err)
		}
		if interval <= 0 {
			<-ctx.Done()
			return ctx.Err()
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Sync asks the source which versions should serve and loads those that
// changed, in parallel. Models that fail keep their previous version; their
// errors are logged and recorded in Statuses. Sync fails only when the
// source cannot list models at all.
func (s *Set) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	wants, err := s.cfg.Source.Resolve(ctx)
	if err != nil {
		return fmt.Errorf("sync models from %s: %w", s.cfg.Source, err)
	}
	var todo []Want
	for _, w := range wants {
		e := s.entry(w.Name, w.Ref)
		if e.isUnloaded() {
			continue
		}
		if w.Err != nil {
			s.fail(e, "", w.Err)
			continue
		}
		if m := e.cur.Load(); m != nil && m.Version() == w.Version {
			continue
		}
		todo = append(todo, w)
	}
	s.loadAll(ctx, todo)
	s.mu.Lock()
	s.synced = true
	s.mu.Unlock()
	s.releasePlugins(ctx)
	return nil
}

// releasePlugins closes the plugins that no serving model has used for
// PluginGrace, and forgets failed plugin loads.
func (s *Set) releasePlugins(ctx context.Context) {
	used := map[string]bool{}
	s.mu.RLock()
	for _, e := range s.entries {
		if m := e.cur.Load(); m != nil {
			used[m.Manifest.Plugin.SHA256] = true
		}
	}
	s.mu.RUnlock()
	now := s.cfg.Tick()
	var closing []*pluginFlight
	s.pmu.Lock()
	for digest, f := range s.plugins {
		select {
		case <-f.done:
		default:
			continue // still loading
		}
		switch {
		case f.err != nil:
			delete(s.plugins, digest)
		case used[digest]:
			f.unusedSince = time.Time{}
		case f.unusedSince.IsZero():
			f.unusedSince = now
		case now.Sub(f.unusedSince) >= s.cfg.PluginGrace:
			delete(s.plugins, digest)
			closing = append(closing, f)
		}
	}
	s.pmu.Unlock()
	for _, f := range closing {
		if c, ok := f.p.(Closer); ok {
			if err := c.Close(ctx); err != nil {
				s.log.Warn("closing an unused plugin failed", "sha256", f.p.Digest(), "err", err)
				continue
			}
		}
		s.log.Info("unused plugin closed", "plugin", f.p.Description().Name, "version", f.p.Description().Version, "sha256", f.p.Digest())
	}
}

// Load (re)loads the named model now, also one that was unloaded. It
// returns the error that kept the model from loading.
func (s *Set) Load(ctx context.Context, name string) error {
	s.mu.RLock()
	e := s.entries[name]
	s.mu.RUnlock()
	if e == nil {
		return fmt.Errorf("model %q: %w", name, ErrUnknownModel)
	}
	e.mu.Lock()
	e.unloaded = false
	e.mu.Unlock()
	if err := s.Sync(ctx); err != nil {
		return err
	}
	if e.cur.Load() == nil {
		e.mu.Lock()
		defer e.mu.Unlock()
		return fmt.Errorf("model %q: %s", name, e.lastErr)
	}
	return nil
}

// Unload stops serving the named model until Load is called for it.
func (s *Set) Unload(name string) error {
	s.mu.RLock()
	e := s.entries[name]
	s.mu.RUnlock()
	if e == nil {
		return fmt.Errorf("model %q: %w", name, ErrUnknownModel)
	}
	e.mu.Lock()
	e.unloaded = true
	e.mu.Unlock()
	if old := e.cur.Swap(nil); old != nil {
		s.log.Info("model unloaded", "model", name, "version", old.Version())
	}
	return nil
}

// ErrUnknownModel is returned for a model name the set does not know.
var ErrUnknownModel = errors.New("unknown model")

func (s *Set) entry(name string, ref store.ModelRef) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[name]
	if e == nil {
		e = &entry{name: name}
		s.entries[name] = e
	}
	if ref != (store.ModelRef{}) {
		e.mu.Lock()
		e.ref = ref
		e.mu.Unlock()
	}
	return e
}

func (s *Set) loadAll(ctx context.Context, todo []Want) {
	work := make(chan Want)
	var wg sync.WaitGroup
	for range min(s.cfg.Concurrency, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := range work {
				s.loadOne(ctx, w)
			}
		}()
	}
	for _, w := range todo {
		select {
		case work <- w:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
}

func (s *Set) loadOne(ctx context.Context, w Want) {
	e := s.entry(w.Name, w.Ref)
	lctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
	defer cancel()
	begin := s.cfg.Tick()
	m, err := s.load(lctx, w)
	if err != nil {
		if ctx.Err() == nil { // not a shutdown
			s.fail(e, w.Version, err)
			if e.cur.Load() == nil {
				s.fallBack(ctx, e, w, err)
			}
		}
		return
	}
	e.mu.Lock()
	if e.unloaded { // unloaded while loading
		e.mu.Unlock()
		return
	}
	old := e.cur.Swap(m)
	e.loads++
	e.lastErr = ""
	e.fallbackFrom, e.fallbackReason = "", ""
	e.mu.Unlock()
	attrs := []any{"model", w.Name, "ref", w.Ref.String(), "version", w.Version,
		"plugin", m.Manifest.Plugin.Name, "plugin_version", m.Manifest.Plugin.Version,
		"took", s.cfg.Tick().Sub(begin).Round(time.Millisecond)}
	if old != nil {
		attrs = append(attrs, "previous_version", old.Version())
	}
	s.log.Info("model version loaded", attrs...)
}

// fallBack serves the newest older version that loads when w, the version
// that should serve, failed with cause and nothing serves: a corrupt newest
// version must not keep a restarted runtime from serving at all. The newer
// version is retried on every sync and replaces the fallback once it loads.
func (s *Set) fallBack(ctx context.Context, e *entry, w Want, cause error) {
	fb, ok := s.cfg.Source.(Fallbacker)
	if !ok {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
	olders, err := fb.Fallbacks(lctx, w)
	cancel()
	if err != nil {
		s.log.Warn("listing older versions to fall back to failed", "model", w.Name, "err", err)
	}
	for _, older := range olders {
		lctx, cancel := context.WithTimeout(ctx, s.cfg.LoadTimeout)
		m, err := s.load(lctx, older)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("older model version failed to load too", "model", w.Name, "version", older.Version, "err", err)
			continue
		}
		e.mu.Lock()
		if e.unloaded || !e.cur.CompareAndSwap(nil, m) {
			e.mu.Unlock()
			return
		}
		e.loads++
		e.fallbacks++
		e.fallbackFrom, e.fallbackReason = w.Version, cause.Error()
		e.mu.Unlock()
		s.log.Warn("newest model version failed to load; serving an older version", "model", w.Name, "ref", w.Ref.String(),
			"version", older.Version, "failed_version", w.Version, "reason", cause)
		return
	}
	s.log.Error("no version of the model loads", "model", w.Name, "ref", w.Ref.String(), "failed_version", w.Version,
		"older_versions_tried", len(olders), "reason", cause)
}

// fail records a failed attempt; the error is logged at warning level when
// it differs from the previous one (a broken version is retried every poll
// without flooding the log).
func (s *Set) fail(e *entry, version string, err error) {
	msg := err.Error()
	e.mu.Lock()
	e.failures++
	repeated := e.lastErr == msg
	e.lastErr = msg
	e.mu.Unlock()
	level := slog.LevelWarn
	if repeated {
		level = slog.LevelDebug
	}
	attrs := []any{"model", e.name, "err", err}
	if version != "" {
		attrs = append(attrs, "version", version)
	}
	if m := e.cur.Load(); m != nil {
		attrs = append(attrs, "serving_version", m.Version())
	}
	s.log.Log(context.Background(), level, "model version failed to load", attrs...)
}

// load fetches, verifies, compiles and checks one model version.
func (s *Set) load(ctx context.Context, w Want) (*Model, error) {
	art, err := s.cfg.Source.FetchModel(ctx, w)
	if err != nil {
		return nil, err
	}
	man := art.Manifest
	if man.Model.Name != w.Name || man.Version != w.Version {
		return nil, fmt.Errorf("model %s version %s: manifest is for model %s version %s", w.Ref, w.Version, man.Model, man.Version)
	}
	step := time.Duration(man.Data.Step)
	if step < time.Second || step%time.Second != 0 {
		return nil, fmt.Errorf("model %s version %s: manifest data.step %s: want a whole number of seconds, at least 1s", man.Model, man.Version, step)
	}
	if man.Plugin.SHA256 == "" {
		return nil, fmt.Errorf("model %s version %s: manifest does not pin the plugin's sha256", man.Model, man.Version)
	}
	p, err := s.plugin(ctx, w, man)
	if err != nil {
		return nil, fmt.Errorf("model %s version %s: %w", man.Model, man.Version, err)
	}
	m := &Model{
		Name:     w.Name,
		Manifest: man,
		Step:     int64(step / time.Second),
		Plugin:   p,
		LoadedAt: s.cfg.Now(),
		model:    art.Model,
		cache:    newCurveCache(s.cfg.Cache),
		tick:     s.cfg.Tick,
	}
	if m.policy, m.policyErr = parsePolicy(man); m.policyErr == nil {
		m.policyJSON, _ = json.Marshal(m.policy) // a decoded policy always encodes
	}
	// One prediction proves the model and plugin work together before the
	// version replaces one that does.
	at := man.Data.End
	if at.IsZero() {
		at = m.LoadedAt
	}
	t := floorDiv(at.Unix(), m.Step) * m.Step
	if _, _, err := m.predict(ctx, []int64{t}); err != nil {
		return nil, fmt.Errorf("load check: %w", err)
	}
	return m, nil
}

// plugin returns the compiled plugin a manifest pins, fetching and
// compiling it at most once per digest however many models share it.
func (s *Set) plugin(ctx context.Context, w Want, man store.Manifest) (Plugin, error) {
	digest := man.Plugin.SHA256
	s.pmu.Lock()
	f, ok := s.plugins[digest]
	if ok {
		select {
		case <-f.done:
			if f.err != nil { // retry a failed load
				ok = false
			}
		default:
		}
	}
	if !ok {
		f = &pluginFlight{done: make(chan struct{})}
		s.plugins[digest] = f
		go func() {
			defer close(f.done)
			wasm, err := s.cfg.Source.FetchPlugin(ctx, w, man)
			if err != nil {
				f.err = err
				return
			}
			p, err := s.cfg.Loader.Load(ctx, wasm, digest)
			if err != nil {
				f.err = fmt.Errorf("plugin %s %s: %w", man.Plugin.Name, man.Plugin.Version, err)
				return
			}
			f.p = p
		}()
	}
	s.pmu.Unlock()
	select {
	case <-f.done:
		return f.p, f.err
	case <-ctx.Done():
		return nil, fmt.Errorf("plugin %s %s: %w", man.Plugin.Name, man.Plugin.Version, ctx.Err())
	}
}
