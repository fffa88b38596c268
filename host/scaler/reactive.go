package scaler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/ppa-autoscaler/ppa/host/promsource"
)

// PrometheusReactive is a ReactiveSource reading instant values from the
// Prometheus server each trigger names. One client is kept per address.
type PrometheusReactive struct {
	// Base is copied for each address (auth, TLS, timeouts); URL is set
	// from the trigger.
	Base promsource.Config

	mu      sync.Mutex
	sources map[string]*promsource.Source
}

// Current implements ReactiveSource.
func (p *PrometheusReactive) Current(ctx context.Context, address, query string, at time.Time) (float64, error) {
	src, err := p.source(address)
	if err != nil {
		return 0, err
	}
	v, err := src.Instant(ctx, query, at)
	if err != nil {
		return 0, fmt.Errorf("prometheus %s: %w", address, err)
	}
	return v, nil
}

func (p *PrometheusReactive) source(address string) (*promsource.Source, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sources[address]; ok {
		return s, nil
	}
	cfg := p.Base
	cfg.URL = address
	if cfg.Retries == 0 {
		// A reactive value is read on every poll: one quick retry, no more.
		cfg.Retries = 1
	}
	s, err := promsource.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", address, err)
	}
	if p.sources == nil {
		p.sources = map[string]*promsource.Source{}
	}
	p.sources[address] = s
	return s, nil
}
