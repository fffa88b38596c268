package engine

import (
	"sync/atomic"
	"time"
)

// CallInfo describes one finished plugin call, for metrics (see
// Config.WithObserver).
type CallInfo struct {
	// Plugin and Version come from the plugin's description; Digest is the
	// module's hex sha256.
	Plugin, Version, Digest string
	// Method is the export called: "ppa_train" or "ppa_predict".
	Method string
	// Duration is the wall time of the call, waiting for an instance
	// included.
	Duration time.Duration
	// Fresh is true when the call instantiated a new instance.
	Fresh bool
	// Err is the call's error, or nil.
	Err error
	// Failure classifies Err when it is a *CallError; it is empty on
	// success and for ABI status errors.
	Failure Failure
}

// Stats are cumulative counters of one loaded module, shared by all its
// Plugin handles.
type Stats struct {
	// Calls is the number of train and predict calls, Errors those that
	// returned an error (ABI statuses included) and Failures those that
	// failed with a *CallError other than FailureClosed (trap, exit,
	// timeout, cancellation, protocol error). A failure discards the
	// instance that ran the call, if one was running it.
	Calls, Errors, Failures uint64
	// Instantiations counts instances created, including the one Load uses.
	Instantiations uint64
	// CallTime is the total wall time of the calls.
	CallTime time.Duration
	// Idle and Busy are the instances now kept idle and running calls.
	Idle, Busy int
}

type counters struct {
	calls, errors, failures, instantiations atomic.Uint64
	nanos                                   atomic.Int64
}

// Stats returns the module's counters.
func (p *Plugin) Stats() Stats {
	c := &p.s.stats
	idle, busy := p.s.pool.counts()
	return Stats{
		Calls:          c.calls.Load(),
		Errors:         c.errors.Load(),
		Failures:       c.failures.Load(),
		Instantiations: c.instantiations.Load(),
		CallTime:       time.Duration(c.nanos.Load()),
		Idle:           idle,
		Busy:           busy,
	}
}

// observe records one call in the counters and tells the observer.
func (s *shared) observe(method string, start time.Time, fresh bool, failure Failure, err error) {
	d := s.e.cfg.now().Sub(start)
	s.stats.calls.Add(1)
	s.stats.nanos.Add(int64(d))
	if err != nil {
		s.stats.errors.Add(1)
	}
	if failure != "" && failure != FailureClosed {
		s.stats.failures.Add(1)
	}
	if f := s.e.cfg.observer; f != nil {
		f(CallInfo{
			Plugin: s.desc.Name, Version: s.desc.Version, Digest: s.digest,
			Method: method, Duration: d, Fresh: fresh, Err: err, Failure: failure,
		})
	}
}
