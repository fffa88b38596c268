package engine

import (
	"context"
	"sync"
)

// pool bounds the live instances of one plugin. At most size instances run
// calls at once; callers beyond that wait for one to come back (or for
// their context). Healthy instances are kept idle for reuse, newest first,
// so that a warm instance serves the next call.
type pool struct {
	tokens chan struct{} // one per running call
	newFn  func(context.Context) (*instance, error)

	mu     sync.Mutex
	idle   []*instance
	closed bool
}

func newPool(size int, newFn func(context.Context) (*instance, error)) *pool {
	return &pool{tokens: make(chan struct{}, size), newFn: newFn}
}

// get returns an instance to run one call on, instantiating one when none
// is idle. fresh reports a new instance. The caller must pass it to put.
func (p *pool) get(ctx context.Context) (inst *instance, fresh bool, err error) {
	select {
	case p.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.tokens
		return nil, false, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		inst = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return inst, false, nil
	}
	p.mu.Unlock()
	inst, err = p.newFn(ctx)
	if err != nil {
		<-p.tokens
		return nil, false, err
	}
	return inst, true, nil
}

// put gives inst back after a call. A healthy instance is kept idle; one
// that failed (trap, exit, timeout, protocol error) is closed.
func (p *pool) put(inst *instance, healthy bool) {
	p.mu.Lock()
	if healthy && !p.closed {
		p.idle = append(p.idle, inst)
		p.mu.Unlock()
	} else {
		p.mu.Unlock()
		inst.close()
	}
	<-p.tokens
}

// counts returns the number of idle and running instances.
func (p *pool) counts() (idle, busy int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle), len(p.tokens)
}

// close closes the idle instances; running ones are closed when they come
// back, and later gets fail with ErrClosed.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, inst := range idle {
		inst.close()
	}
}
