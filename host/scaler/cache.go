package scaler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// curveMargin is added to every requested span; see fetch.
const curveMargin = 15 * time.Minute

// forecastKey identifies one cached forecast curve.
type forecastKey struct {
	address string
	model   string
	horizon time.Duration
}

type cacheEntry struct {
	key forecastKey

	mu       sync.Mutex // guards the fields below; never held during a fetch
	forecast *Forecast
	lastErr  error
	lastUsed time.Time
	// inflight is closed when the running fetch ends; nil when none runs.
	inflight chan struct{}
}

// forecastCache keeps one forecast curve per (runtime, model, horizon) and
// refreshes them in the background so that GetMetrics answers from memory.
// A fetch never holds a lock a caller waits on: a caller with a curve
// answers from it at once, however long a refresh hangs, and a caller
// without one waits for the first fetch at most its budget.
type forecastCache struct {
	source ForecastSource
	clock  func() time.Time
	// refresh is the refresh interval, idle the time after which an unused
	// entry is dropped.
	refresh time.Duration
	idle    time.Duration
	// budget bounds how long get waits for a first fetch.
	budget time.Duration
	// fetchTimeout bounds one fetch, whoever waits for it.
	fetchTimeout time.Duration
	log          *slog.Logger
	onFetch      func(key forecastKey, f *Forecast, err error)

	// bg is the context of fetches: they outlive the request that started
	// them (a later request uses the result), not the cache.
	bg context.Context

	mu      sync.Mutex
	entries map[forecastKey]*cacheEntry
}

// errFetchPending is the error of a get whose budget ran out while the
// first fetch of a curve was still running.
var errFetchPending = errors.New("no forecast yet: the runtime has not answered within the scaler's budget (the fetch goes on in the background)")

func (c *forecastCache) entry(k forecastKey) *cacheEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		e = &cacheEntry{key: k}
		c.entries[k] = e
	}
	return e
}

// get returns the cached forecast for k. With none yet it starts a fetch
// (or joins the running one) and waits for it at most the budget (or until
// ctx is done). The returned error is the last fetch error when no forecast
// was ever fetched.
func (c *forecastCache) get(ctx context.Context, k forecastKey) (*Forecast, error) {
	e := c.entry(k)
	e.mu.Lock()
	e.lastUsed = c.clock()
	if f := e.forecast; f != nil {
		e.mu.Unlock()
		return f, nil
	}
	done := c.startLocked(e)
	e.mu.Unlock()
	t := time.NewTimer(c.budget)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		return nil, fmt.Errorf("runtime %s: model %s: %w", k.address, k.model, errFetchPending)
	case <-ctx.Done():
		return nil, fmt.Errorf("runtime %s: model %s: waiting for the first forecast: %w", k.address, k.model, ctx.Err())
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.forecast == nil {
		return nil, e.lastErr
	}
	return e.forecast, nil
}

// startLocked starts a fetch into e unless one is running, and returns the
// channel closed when it ends; e.mu must be held.
func (c *forecastCache) startLocked(e *cacheEntry) chan struct{} {
	if e.inflight != nil {
		return e.inflight
	}
	done := make(chan struct{})
	e.inflight = done
	go func() {
		defer close(done)
		c.fetch(e)
	}()
	return done
}

// fetch fetches a new curve into e. A failed fetch keeps the previous curve
// (its age decides whether it is still usable).
func (c *forecastCache) fetch(e *cacheEntry) {
	// The runtime anchors the curve at its now rounded down to the model's
	// step (so that its cache answers). Ask for more than the horizon so
	// that the curve covers [now, now+horizon] for steps up to
	// curveMargin, until the next refresh lands.
	span := e.key.horizon + 2*c.refresh + curveMargin
	ctx, cancel := context.WithTimeout(c.bg, c.fetchTimeout)
	f, err := c.source.Forecast(ctx, e.key.address, e.key.model, time.Time{}, span)
	cancel()
	e.mu.Lock()
	if err == nil {
		f.Fetched = c.clock()
		e.forecast, e.lastErr = f, nil
	} else {
		e.lastErr = err
	}
	e.inflight = nil
	e.mu.Unlock()
	if err != nil {
		c.log.Warn("forecast fetch failed", "model", e.key.model, "runtime", e.key.address, "err", err)
	}
	if c.onFetch != nil {
		c.onFetch(e.key, f, err)
	}
}

// refreshAll refetches every entry used within the idle window and drops
// the others, and returns when those fetches end or ctx is done. Callers of
// get are not held up meanwhile.
func (c *forecastCache) refreshAll(ctx context.Context) {
	now := c.clock()
	c.mu.Lock()
	var live []*cacheEntry
	for k, e := range c.entries {
		e.mu.Lock()
		idle := now.Sub(e.lastUsed) > c.idle
		e.mu.Unlock()
		if idle {
			delete(c.entries, k)
			continue
		}
		live = append(live, e)
	}
	c.mu.Unlock()

	sem := make(chan struct{}, 16)
	for _, e := range live {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		e.mu.Lock()
		done := c.startLocked(e)
		e.mu.Unlock()
		go func() {
			<-done
			<-sem
		}()
	}
	for range cap(sem) {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
	}
}

// run refreshes the cache every refresh interval until ctx is done.
func (c *forecastCache) run(ctx context.Context) {
	t := time.NewTicker(c.refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.refreshAll(ctx)
		}
	}
}

func (c *forecastCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
