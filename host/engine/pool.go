package engine

import (
	"context"
	"sync"
)

// slot runs the calls of one pool, one at a time: an instance in this
// process or a worker process holding one.
type slot interface {
	// abiVersion returns what ppa_abi_version returned.
	abiVersion(ctx context.Context) (uint32, error)
	// exchange runs export with the encoded request in and returns the
	// raw result buffer (status and payload) and the guest's output. A
	// non-nil *CallError means the call failed; gone then says whether
	// the slot is unusable and must be closed.
	exchange(ctx context.Context, export string, in []byte) (out []byte, output string, ce *CallError, gone bool)
	// close releases the slot.
	close()
}

// pool bounds the live instances of one plugin. At most size instances run
// calls at once; callers beyond that wait for one to come back (or for
// their context). Healthy instances are kept idle for reuse, newest first,
// so that a warm instance serves the next call.
type pool struct {
	tokens chan struct{} // one per running call
	newFn  func(context.Context) (slot, error)

	mu     sync.Mutex
	idle   []slot
	closed bool
}

// newPool returns a pool of at most size slots made by newFn.
func newPool(size int, newFn func(context.Context) (slot, error)) *pool {
	return &pool{tokens: make(chan struct{}, size), newFn: newFn}
}

// get returns an instance to run one call on, instantiating one when none
// is idle. fresh reports a new instance. The caller must pass it to put.
func (p *pool) get(ctx context.Context) (inst slot, fresh bool, err error) {
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

// adopt counts inst, made outside the pool, as running a call; the caller
// must pass it to put.
func (p *pool) adopt(ctx context.Context, inst slot) error {
	select {
	case p.tokens <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// put gives inst back after a call. A healthy instance is kept idle; one
// that failed (trap, exit, timeout, protocol error) is closed.
func (p *pool) put(inst slot, healthy bool) {
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
