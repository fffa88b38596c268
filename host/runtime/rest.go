package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ppa-autoscaler/ppa/host/engine"
	"github.com/ppa-autoscaler/ppa/host/runtime/modelset"
)

const protocolREST = "rest"

// restHandler routes the REST API of the Open Inference Protocol v2 (and
// /metrics).
func (s *Server) restHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"live": true})
	})
	mux.HandleFunc("GET /v2/health/ready", func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusOK
		ready := s.Ready()
		if !ready {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, map[string]bool{"ready": ready})
	})
	mux.HandleFunc("GET /v2", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.serverMetadata())
	})
	mux.HandleFunc("GET /v2/models/{name}", s.restModelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}", s.restModelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/ready", s.restModelReady)
	mux.HandleFunc("GET /v2/models/{name}/versions/{version}/ready", s.restModelReady)
	mux.HandleFunc("POST /v2/models/{name}/infer", s.restInfer)
	mux.HandleFunc("POST /v2/models/{name}/versions/{version}/infer", s.restInfer)
	if s.opts.EnableRepository {
		mux.HandleFunc("POST /v2/repository/index", s.restRepositoryIndex)
		mux.HandleFunc("POST /v2/repository/models/{name}/load", s.restRepositoryLoad)
		mux.HandleFunc("POST /v2/repository/models/{name}/unload", s.restRepositoryUnload)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(codeNotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
	return mux
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics: " + fmt.Sprint(v...)) }

type serverMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

func (s *Server) serverMetadata() serverMetadata {
	ext := []string{ExtensionBinaryData}
	if s.opts.EnableRepository {
		ext = append(ext, "model_repository")
	}
	return serverMetadata{Name: "ppa-runtime", Version: s.opts.Version, Extensions: ext}
}

// tensorMetadata is one tensor in model metadata.
type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// modelMetadata is the REST model metadata; Parameters is an addition
// the protocol allows, describing the model and the optional inputs.
type modelMetadata struct {
	Name       string           `json:"name"`
	Versions   []string         `json:"versions"`
	Platform   string           `json:"platform"`
	Inputs     []tensorMetadata `json:"inputs"`
	Outputs    []tensorMetadata `json:"outputs"`
	Parameters map[string]any   `json:"parameters,omitempty"`
}

func metadataOf(m *modelset.Model) modelMetadata {
	md := modelMetadata{
		Name:     m.Name,
		Versions: []string{m.Version()},
		Platform: Platform,
		Inputs: []tensorMetadata{
			{Name: InputHorizon, Datatype: DatatypeInt64, Shape: []int64{1}},
			{Name: InputStart, Datatype: DatatypeInt64, Shape: []int64{1}},
			{Name: InputStep, Datatype: DatatypeInt64, Shape: []int64{1}},
		},
		Outputs: []tensorMetadata{
			{Name: OutputDS, Datatype: DatatypeInt64, Shape: []int64{-1}},
			{Name: OutputYhat, Datatype: DatatypeFP64, Shape: []int64{-1}},
		},
		Parameters: map[string]any{
			"policy":         policyParam(m),
			"namespace":      m.Manifest.Model.Namespace,
			"plugin":         m.Manifest.Plugin.Name,
			"plugin_version": m.Manifest.Plugin.Version,
			"plugin_sha256":  m.Manifest.Plugin.SHA256,
			"step_seconds":   m.Step,
			"inputs": "horizon (required): seconds ahead of start; start (optional): unix seconds, default now rounded down to the step; " +
				"step (optional): seconds between points, default step_seconds. Outputs hold one value per point at start, start+step, ..., start+horizon.",
		},
	}
	// How the plugin runs here: a built-in of this build in-process, an
	// uploaded one in a sandboxed worker process.
	if r, ok := m.Plugin.(interface{ RunMode() engine.RunMode }); ok {
		md.Parameters["plugin_run"] = string(r.RunMode())
	}
	if m.Intervals() {
		md.Outputs = append(md.Outputs,
			tensorMetadata{Name: OutputLower, Datatype: DatatypeFP64, Shape: []int64{-1}},
			tensorMetadata{Name: OutputUpper, Datatype: DatatypeFP64, Shape: []int64{-1}})
	}
	return md
}

// policyParam is the model's policy for its metadata: the policy object, or
// {"error": why it has none}.
func policyParam(m *modelset.Model) any {
	p, _, err := m.Policy()
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	return p
}

// parameters are the response parameters: the model version's policy
// (an object over REST; a JSON string over gRPC, see grpcParameters), or
// policy_error.
func (r inferResponse) parameters() map[string]any {
	switch {
	case r.policy != nil:
		return map[string]any{ParamPolicy: json.RawMessage(r.policy)}
	case r.policyErr != "":
		return map[string]any{ParamPolicyError: r.policyErr}
	}
	return nil
}

func (s *Server) restModelMetadata(w http.ResponseWriter, r *http.Request) {
	m, err := s.lookup(r.PathValue("name"), r.PathValue("version"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, metadataOf(m))
}

func (s *Server) restModelReady(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	_, err := s.lookup(name, r.PathValue("version"))
	if err != nil && codeOf(err) != codeUnavailable {
		writeError(w, err)
		return
	}
	status := http.StatusOK
	if err != nil {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"name": name, "ready": err == nil})
}

// restTensor is an input tensor in JSON. Data is decoded by the datatype.
type restTensor struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	Data       json.RawMessage            `json:"data"`
}

type restOutputRequest struct {
	Name       string                     `json:"name"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
}

type restInferRequest struct {
	ID         string                     `json:"id,omitempty"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	Inputs     []restTensor               `json:"inputs"`
	Outputs    []restOutputRequest        `json:"outputs,omitempty"`
}

func (s *Server) restInfer(w http.ResponseWriter, r *http.Request) {
	begin := s.opts.Tick()
	req, err := s.decodeREST(w, r)
	if err != nil {
		// Decoding failed before the model was looked up: count it
		// under the model when it exists.
		label := unknownModelLabel
		if m, _ := s.set.Get(r.PathValue("name")); m != nil {
			label = m.Name
		}
		s.metrics.request(label, protocolREST, codeOf(err), s.opts.Tick().Sub(begin))
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
	defer cancel()
	resp, err := s.infer(ctx, protocolREST, req.inferRequest)
	if err != nil {
		writeError(w, err)
		return
	}
	body, headerLen, err := encodeRESTResponse(resp, req.binaryAll, req.binaryPer)
	if err != nil {
		writeError(w, errorf(codeInternal, "%w", err))
		return
	}
	if headerLen < 0 {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set(HeaderInferenceLength, strconv.Itoa(headerLen))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// restRequest is a decoded REST inference request and the outputs to
// return as binary data (binaryPer per output, binaryAll for the rest).
type restRequest struct {
	inferRequest
	binaryAll bool
	binaryPer map[string]bool
}

// decodeREST reads and decodes an inference request body, JSON or JSON
// followed by binary tensors (the binary tensor data extension).
func (s *Server) decodeREST(w http.ResponseWriter, r *http.Request) (restRequest, error) {
	if r.ContentLength > s.opts.MaxBodyBytes {
		return restRequest{}, errorf(codeTooLarge, "request body of %d bytes exceeds the limit of %d", r.ContentLength, s.opts.MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return restRequest{}, errorf(codeTooLarge, "request body exceeds the limit of %d bytes", s.opts.MaxBodyBytes)
		}
		return restRequest{}, errorf(codeInvalidArgument, "read request body: %w", err)
	}
	header, tail, err := splitBinaryBody(body, r.Header.Get(HeaderInferenceLength))
	if err != nil {
		return restRequest{}, err
	}
	var in restInferRequest
	dec := json.NewDecoder(bytes.NewReader(header))
	if err := dec.Decode(&in); err != nil {
		return restRequest{}, errorf(codeInvalidArgument, "request body is not a valid inference request: %v", err)
	}
	if dec.More() {
		return restRequest{}, errorf(codeInvalidArgument, "request body: unexpected data after the JSON object (binary tensors need the %s header)", HeaderInferenceLength)
	}
	req := inferRequest{model: r.PathValue("name"), version: r.PathValue("version"), id: in.ID}
	if v, ok := in.Parameters[ParamNamespace]; ok {
		var ns string
		if err := json.Unmarshal(v, &ns); err != nil {
			return restRequest{}, errorf(codeInvalidArgument, "parameter %q: want a string", ParamNamespace)
		}
		req.namespace = ns
	}
	var off int64
	for i, t := range in.Inputs {
		if t.Name == "" {
			return restRequest{}, errorf(codeInvalidArgument, "inputs[%d]: name is empty", i)
		}
		it := inputTensor{name: t.Name, datatype: t.Datatype, shape: t.Shape}
		size, bin, err := binarySize(t)
		switch {
		case err != nil:
			return restRequest{}, err
		case bin:
			if off, err = binaryInput(t, size, tail, off, &it); err != nil {
				return restRequest{}, err
			}
		case t.Datatype == DatatypeInt64:
			it.values, err = decodeInts(t.Data)
			if err != nil {
				return restRequest{}, errorf(codeInvalidArgument, "input %s: data: %w", quoteName(t.Name), err)
			}
		}
		req.inputs = append(req.inputs, it)
	}
	if extra := int64(len(tail)) - off; extra > 0 {
		return restRequest{}, errorf(codeInvalidArgument, "%d bytes of binary data after the JSON header belong to no input (inputs take %d of %d)", extra, off, len(tail))
	}
	for _, o := range in.Outputs {
		req.outputs = append(req.outputs, o.Name)
	}
	all, per, err := binaryOutputs(in)
	if err != nil {
		return restRequest{}, err
	}
	return restRequest{inferRequest: req, binaryAll: all, binaryPer: per}, nil
}

// decodeInts decodes tensor data (a number, or arrays of them nested in
// row-major order) as int64s.
func decodeInts(raw json.RawMessage) ([]int64, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	var out []int64
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		switch x := v.(type) {
		case []any:
			if depth > 8 {
				return errors.New("nested too deeply")
			}
			for _, e := range x {
				if err := walk(e, depth+1); err != nil {
					return err
				}
			}
			return nil
		case json.Number:
			n, err := strconv.ParseInt(string(x), 10, 64)
			if err != nil {
				return fmt.Errorf("%s is not an INT64", x)
			}
			out = append(out, n)
			return nil
		default:
			return fmt.Errorf("%v is not an INT64", x)
		}
	}
	if err := walk(v, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// restOutput is an output tensor in JSON: Data holds the values, or
// Parameters their binary_data_size when they follow the JSON as binary.
type restOutput struct {
	Name       string         `json:"name"`
	Datatype   string         `json:"datatype"`
	Shape      []int64        `json:"shape"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Data       any            `json:"data,omitempty"`
}

type restInferResponse struct {
	ModelName    string         `json:"model_name"`
	ModelVersion string         `json:"model_version"`
	ID           string         `json:"id,omitempty"`
	Parameters   map[string]any `json:"parameters,omitempty"`
	Outputs      []restOutput   `json:"outputs"`
}

// jsonFloats encodes float64s exactly (shortest round-trip form); JSON has
// no NaN or infinity, so non-finite values are null.
type jsonFloats []float64

// MarshalJSON implements json.Marshaler.
func (f jsonFloats) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 2+len(f)*20)
	b = append(b, '[')
	for i, v := range f {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			b = append(b, "null"...)
			continue
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return append(b, ']'), nil
}

func (s *Server) restRepositoryIndex(w http.ResponseWriter, r *http.Request) {
	type entry struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
		State   string `json:"state"`
		Reason  string `json:"reason,omitempty"`
	}
	out := []entry{}
	for _, st := range s.set.Statuses() {
		out = append(out, entry{Name: st.Name, Version: st.Version, State: st.State.String(), Reason: st.LastError})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) restRepositoryLoad(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.set.Load(r.Context(), name); err != nil {
		if errors.Is(err, modelset.ErrUnknownModel) {
			writeError(w, errorf(codeNotFound, "model %s is not served here", quoteName(name)))
			return
		}
		writeError(w, errorf(codeUnavailable, "load: %w", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "load": "true"})
}

func (s *Server) restRepositoryUnload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.set.Unload(name); err != nil {
		writeError(w, errorf(codeNotFound, "model %s is not served here", quoteName(name)))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "unload": "true"})
}

// httpStatus maps an error code to the REST status.
func httpStatus(c errCode) int {
	switch c {
	case codeInvalidArgument:
		return http.StatusBadRequest
	case codeNotFound:
		return http.StatusNotFound
	case codeUnavailable:
		return http.StatusServiceUnavailable
	case codeTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeDeadlineExceeded:
		return http.StatusGatewayTimeout
	case codeCanceled:
		return 499 // client closed the request (nginx's convention)
	}
	return http.StatusInternalServerError
}

// writeError writes the protocol's error body: {"error": "..."}.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, httpStatus(codeOf(err)), map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"error": "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
