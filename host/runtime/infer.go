package runtime

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/runtime/modelset"
)

// Names and datatypes of the tensors, as documented in README.md and the
// model metadata.
const (
	// InputHorizon is how many seconds ahead of start to forecast
	// (INT64, shape [1], required).
	InputHorizon = "horizon"
	// InputStart is the first forecast time in unix seconds (INT64, shape
	// [1]); default now, rounded down to a multiple of the step.
	InputStart = "start"
	// InputStep is the spacing of the forecast in seconds (INT64, shape
	// [1]); default the step the model was trained at.
	InputStep = "step"

	// OutputDS holds the forecast times in unix seconds (INT64, [n]).
	OutputDS = "ds"
	// ParamPolicy is the inference response parameter that carries the
	// model version's scaling policy (host/policy.Policy: an object over
	// REST, its JSON as a string over gRPC); ParamPolicyError replaces it
	// with the reason when the version has no valid policy.
	ParamPolicy      = "policy"
	ParamPolicyError = "policy_error"
	// OutputYhat holds the point forecasts (FP64, [n]).
	OutputYhat = "yhat"
	// OutputLower and OutputUpper hold the interval bounds (FP64, [n]);
	// absent when the plugin gives none.
	OutputLower = "yhat_lower"
	OutputUpper = "yhat_upper"

	// DatatypeInt64 and DatatypeFP64 are the protocol's names of the
	// datatypes used.
	DatatypeInt64 = "INT64"
	DatatypeFP64  = "FP64"

	// Platform is the platform reported in model metadata.
	Platform = "ppa-wasm"

	// ParamNamespace is the optional request parameter (a string) naming
	// the model's namespace. The protocol addresses a model by its name
	// alone; a runtime serving several namespaces answers a request whose
	// namespace differs from the model's with NOT_FOUND rather than with
	// another namespace's forecast.
	ParamNamespace = "namespace"
)

// maxUnixSeconds keeps times within year 9999 so that milliseconds never
// overflow.
const maxUnixSeconds = 253402300799

// errCode classifies a failed request; each protocol maps it to its own
// status.
type errCode int

const (
	codeInvalidArgument errCode = iota + 1
	codeNotFound
	codeUnavailable
	codeTooLarge
	codeDeadlineExceeded
	codeCanceled
	codeInternal
)

// String is the code's name in metrics.
func (c errCode) String() string {
	switch c {
	case codeInvalidArgument:
		return "invalid_argument"
	case codeNotFound:
		return "not_found"
	case codeUnavailable:
		return "unavailable"
	case codeTooLarge:
		return "too_large"
	case codeDeadlineExceeded:
		return "deadline_exceeded"
	case codeCanceled:
		return "canceled"
	case codeInternal:
		return "internal"
	}
	return "ok"
}

// requestError is an error with a protocol-neutral code. Its message is
// what the client sees.
type requestError struct {
	code errCode
	msg  string
	err  error
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return e.err }

func errorf(code errCode, format string, args ...any) *requestError {
	err := fmt.Errorf(format, args...)
	return &requestError{code: code, msg: clipMessage(err.Error()), err: errors.Unwrap(err)}
}

// Bounds on what a peer's input may put into an error, a log line or a
// label: a name is quoted up to maxNameInMessage bytes, a whole message is
// cut at maxMessage bytes (gRPC clients refuse status messages beyond their
// metadata limit, 8 KiB by default).
const (
	maxNameInMessage = 128
	maxMessage       = 1024
)

// quoteName quotes a client-supplied name for a message, clipped to
// maxNameInMessage bytes with its full length said.
func quoteName(s string) string {
	if len(s) <= maxNameInMessage {
		return strconv.Quote(s)
	}
	cut := maxNameInMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// clipMessage cuts a message at maxMessage bytes.
func clipMessage(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes in all)", s[:cut], len(s))
}

// codeOf classifies any error.
func codeOf(err error) errCode {
	if err == nil {
		return 0
	}
	var re *requestError
	if errors.As(err, &re) {
		return re.code
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codeCanceled
	}
	return codeInternal
}

// inputTensor is one decoded input, whatever the protocol.
type inputTensor struct {
	name     string
	datatype string
	shape    []int64
	values   []int64
}

// inferRequest is a decoded inference request, whatever the protocol.
type inferRequest struct {
	model, version, id string
	// namespace, when set, must be the model's namespace.
	namespace string
	inputs    []inputTensor
	// outputs lists the requested outputs; empty means all.
	outputs []string
}

// outputTensor is one output, whatever the protocol: ints for INT64,
// floats for FP64.
type outputTensor struct {
	name     string
	datatype string
	ints     []int64
	floats   []float64
}

func (o outputTensor) len() int {
	if o.datatype == DatatypeInt64 {
		return len(o.ints)
	}
	return len(o.floats)
}

type inferResponse struct {
	model, version, id string
	outputs            []outputTensor
	// policy is the model version's scaling policy as JSON, or policyErr
	// why it has none (response parameters "policy" / "policy_error").
	policy    []byte
	policyErr string
}

// lookup returns the serving version of a model, as a request error when
// there is none.
func (s *Server) lookup(n, version string) (*modelset.Model, error) {
	if n == "" {
		return nil, errorf(codeInvalidArgument, "model name is empty")
	}
	m, state := s.set.Get(n)
	switch state {
	case modelset.StateUnknown:
		return nil, errorf(codeNotFound, "model %s is not served here", quoteName(n))
	case modelset.StateLoading:
		return nil, errorf(codeUnavailable, "model %s is not loaded yet", quoteName(n))
	case modelset.StateUnloaded:
		return nil, errorf(codeUnavailable, "model %s is unloaded", quoteName(n))
	}
	if version != "" && version != m.Version() {
		return nil, errorf(codeNotFound, "model %s version %s is not loaded (serving version %q)", quoteName(n), quoteName(version), m.Version())
	}
	return m, nil
}

// params are the validated request inputs.
type params struct {
	start, step int64
	n           int
	defaulted   bool // start was not given
}

func (s *Server) parseInputs(m *modelset.Model, inputs []inputTensor) (params, error) {
	var horizon, start, step *int64
	for i := range inputs {
		in := &inputs[i]
		var dst **int64
		switch in.name {
		case InputHorizon:
			dst = &horizon
		case InputStart:
			dst = &start
		case InputStep:
			dst = &step
		default:
			return params{}, errorf(codeInvalidArgument, "input %s: unknown input (want %s, and optionally %s and %s)", quoteName(in.name), InputHorizon, InputStart, InputStep)
		}
		if *dst != nil {
			return params{}, errorf(codeInvalidArgument, "input %s: given twice", quoteName(in.name))
		}
		if in.datatype != DatatypeInt64 {
			return params{}, errorf(codeInvalidArgument, "input %s: datatype %s: want %s", quoteName(in.name), quoteName(in.datatype), DatatypeInt64)
		}
		elems := int64(1)
		for _, d := range in.shape {
			if d < 0 {
				return params{}, errorf(codeInvalidArgument, "input %q: shape %v: negative dimension", in.name, in.shape)
			}
			elems *= d
		}
		if elems != 1 || len(in.values) != 1 {
			return params{}, errorf(codeInvalidArgument, "input %q: shape %v with %d values: want shape [1] and one value", in.name, in.shape, len(in.values))
		}
		*dst = &in.values[0]
	}
	if horizon == nil {
		return params{}, errorf(codeInvalidArgument, "input %q is required (INT64, shape [1], seconds ahead)", InputHorizon)
	}
	p := params{step: m.Step}
	if step != nil {
		// A step longer than both the longest horizon and the model's own
		// step can only ever give one point, and a huge one rounds the
		// default start down to 1970.
		maxStep := max(int64(s.opts.MaxHorizon/time.Second), m.Step)
		switch {
		case *step < 1:
			return params{}, errorf(codeInvalidArgument, "input %q: %d: want a positive number of seconds", InputStep, *step)
		case *step > maxStep:
			return params{}, errorf(codeInvalidArgument, "input %q: %ds is more than the limit of %ds", InputStep, *step, maxStep)
		}
		p.step = *step
	}
	h := *horizon
	switch {
	case h < 0:
		return params{}, errorf(codeInvalidArgument, "input %q: %d: must not be negative", InputHorizon, h)
	case h > int64(s.opts.MaxHorizon/time.Second):
		return params{}, errorf(codeInvalidArgument, "input %q: %ds is more than the limit of %ds (%s)", InputHorizon, h, int64(s.opts.MaxHorizon/time.Second), s.opts.MaxHorizon)
	}
	n := h/p.step + 1
	if n > int64(s.opts.MaxPoints) {
		return params{}, errorf(codeInvalidArgument, "input %q: %ds at a step of %ds is %d points, more than the limit of %d", InputHorizon, h, p.step, n, s.opts.MaxPoints)
	}
	p.n = int(n)
	if start != nil {
		p.start = *start
	} else {
		now := s.opts.Now().Unix()
		p.start = now - floorMod(now, p.step)
		p.defaulted = true
	}
	// h ≤ MaxHorizon and 0 ≤ start ≤ maxUnixSeconds, so the subtraction
	// cannot overflow where start+h could.
	if p.start < 0 || p.start > maxUnixSeconds || h > maxUnixSeconds-p.start {
		return params{}, errorf(codeInvalidArgument, "input %q: %d: the forecast must lie between 1970 and 9999 (unix seconds 0..%d)", InputStart, p.start, maxUnixSeconds)
	}
	return p, nil
}

// infer answers one inference request; protocol labels metrics.
func (s *Server) infer(ctx context.Context, protocol string, req inferRequest) (resp inferResponse, err error) {
	begin := s.opts.Tick()
	label := unknownModelLabel
	defer func() {
		s.metrics.request(label, protocol, codeOf(err), s.opts.Tick().Sub(begin))
		if c := codeOf(err); c == codeInternal {
			s.log.Error("inference failed", "model", req.model, "protocol", protocol, "err", err)
		}
	}()
	m, err := s.lookup(req.model, req.version)
	if err != nil {
		return inferResponse{}, err
	}
	if req.namespace != "" && req.namespace != m.Manifest.Model.Namespace {
		return inferResponse{}, errorf(codeNotFound, "model %s is not served here for namespace %s (this runtime serves it for namespace %q)",
			quoteName(req.model), quoteName(req.namespace), m.Manifest.Model.Namespace)
	}
	label = m.Name
	p, err := s.parseInputs(m, req.inputs)
	if err != nil {
		return inferResponse{}, err
	}
	want, err := wantOutputs(req.outputs, m.Intervals())
	if err != nil {
		return inferResponse{}, err
	}
	f, st, err := m.Forecast(ctx, p.start, p.step, p.n, s.opts.Now())
	if st.Cacheable {
		s.metrics.cache(m.Name, st.CacheHit)
	}
	if err != nil {
		return inferResponse{}, pluginError(err)
	}
	resp = inferResponse{model: m.Name, version: m.Version(), id: req.id}
	if _, js, perr := m.Policy(); perr != nil {
		resp.policyErr = perr.Error()
	} else {
		resp.policy = js
	}
	for _, name := range want {
		switch name {
		case OutputDS:
			resp.outputs = append(resp.outputs, outputTensor{name: name, datatype: DatatypeInt64, ints: f.DS})
		case OutputYhat:
			resp.outputs = append(resp.outputs, outputTensor{name: name, datatype: DatatypeFP64, floats: f.Yhat})
		case OutputLower:
			if len(f.Lower) > 0 {
				resp.outputs = append(resp.outputs, outputTensor{name: name, datatype: DatatypeFP64, floats: f.Lower})
			}
		case OutputUpper:
			if len(f.Upper) > 0 {
				resp.outputs = append(resp.outputs, outputTensor{name: name, datatype: DatatypeFP64, floats: f.Upper})
			}
		}
	}
	return resp, nil
}

const unknownModelLabel = "_unknown"

// wantOutputs validates the requested output names; none means all.
func wantOutputs(requested []string, intervals bool) ([]string, error) {
	all := []string{OutputDS, OutputYhat}
	if intervals {
		all = append(all, OutputLower, OutputUpper)
	}
	if len(requested) == 0 {
		return all, nil
	}
	seen := map[string]bool{}
	for _, name := range requested {
		switch name {
		case OutputDS, OutputYhat, OutputLower, OutputUpper:
		default:
			return nil, errorf(codeInvalidArgument, "output %s: unknown output (have %s, %s, %s, %s)", quoteName(name), OutputDS, OutputYhat, OutputLower, OutputUpper)
		}
		if seen[name] {
			return nil, errorf(codeInvalidArgument, "output %s: requested twice", quoteName(name))
		}
		seen[name] = true
	}
	// Keep the documented order whatever the request's.
	var out []string
	for _, name := range []string{OutputDS, OutputYhat, OutputLower, OutputUpper} {
		if seen[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

// pluginError classifies a failed forecast: a timeout or cancellation keeps
// its meaning, an argument the plugin refused is the client's error, and
// anything else (trap, crash, bad answer) is internal.
func pluginError(err error) error {
	var ae *abi.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &requestError{code: codeDeadlineExceeded, msg: err.Error(), err: err}
	case errors.Is(err, context.Canceled):
		return &requestError{code: codeCanceled, msg: err.Error(), err: err}
	case errors.As(err, &ae) && ae.Status == abi.StatusInvalidArgument:
		return &requestError{code: codeInvalidArgument, msg: err.Error(), err: err}
	}
	return &requestError{code: codeInternal, msg: err.Error(), err: err}
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
