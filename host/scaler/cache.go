package scaler

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// curveMargin is added to every requested span; see fetchLocked.
const curveMargin = 15 * time.Minute

// forecastKey identifies one cached forecast curve.
type forecastKey struct {
	address string
	model   string
	horizon time.Duration
}

type cacheEntry struct {
	key forecastKey

	mu       sync.Mutex // held while fetching, so concurrent misses fetch once
	forecast *Forecast
	lastErr  error
	lastUsed time.Time
}

// forecastCache keeps one forecast curve per (runtime, model, horizon) and
// refreshes them in the background so that GetMetrics answers from memory.
type forecastCache struct {
	source  ForecastSource
	clock   func() time.Time
	refresh time.Duration
	idle    time.Duration
	log     *slog.Logger
	onFetch func(key forecastKey, f *Forecast, err error)

	mu      sync.Mutex
	entries map[forecastKey]*cacheEntry
}

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

// get returns the cached forecast for k, fetching it first when there is
// none yet. The returned error is the last fetch error when no forecast was
// ever fetched.
func (c *forecastCache) get(ctx context.Context, k forecastKey) (*Forecast, error) {
	e := c.entry(k)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastUsed = c.clock()
	if e.forecast == nil {
		c.fetchLocked(ctx, e)
	}
	if e.forecast == nil {
		return nil, e.lastErr
	}
	return e.forecast, nil
}

// fetchLocked fetches a new curve into e; e.mu must be held. A failed fetch
// keeps the previous curve (its age decides whether it is still usable).
func (c *forecastCache) fetchLocked(ctx context.Context, e *cacheEntry) {
	// The runtime anchors the curve at its now rounded down to the model's
	// step (so that its cache answers). Ask for more than the horizon so
	// that the curve covers [now, now+horizon] for steps up to
	// curveMargin, until the next refresh lands.
	span := e.key.horizon + 2*c.refresh + curveMargin
	f, err := c.source.Forecast(ctx, e.key.address, e.key.model, time.Time{}, span)
	if err == nil {
		f.Fetched = c.clock()
		e.forecast, e.lastErr = f, nil
	} else {
		e.lastErr = err
		c.log.Warn("forecast fetch failed", "model", e.key.model, "runtime", e.key.address, "err", err)
	}
	if c.onFetch != nil {
		c.onFetch(e.key, f, err)
	}
}

// refreshAll refetches every entry used within the idle window and drops
// the others.
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

	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, e := range live {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			e.mu.Lock()
			defer e.mu.Unlock()
			c.fetchLocked(ctx, e)
		}()
	}
	wg.Wait()
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
