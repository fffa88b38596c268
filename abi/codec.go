package abi

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Column is an extra input series aligned with the timestamps of a request,
// for example "cap" for logistic growth or an extra regressor.
type Column struct {
	Name   string
	Values []float64
}

// TrainRequest is the input of ppa_train.
type TrainRequest struct {
	// Params are the plugin parameters; absent ones take their defaults.
	Params Params
	// Seed seeds every random choice the plugin makes.
	Seed uint64
	// Timestamps are Unix milliseconds, strictly ascending.
	Timestamps []int64
	// Values are aligned with Timestamps; NaN marks a missing value.
	Values []float64
	// Columns are extra series aligned with Timestamps.
	Columns []Column
}

// TrainResponse is the output of ppa_train.
type TrainResponse struct {
	// Model is opaque to the host: it is stored and passed back to predict.
	Model []byte
	// Info is free-form JSON metadata the host records in the manifest
	// (for example fitted parameters or warnings).
	Info map[string]any
}

// PredictRequest is the input of ppa_predict.
type PredictRequest struct {
	// Model is what train returned.
	Model []byte
	// Seed seeds the simulation of prediction intervals.
	Seed uint64
	// Timestamps are the Unix milliseconds to forecast, ascending.
	Timestamps []int64
	// Columns are extra series aligned with Timestamps.
	Columns []Column
}

// PredictResponse is the output of ppa_predict.
type PredictResponse struct {
	// Yhat holds one point forecast per requested timestamp.
	Yhat []float64
	// Lower and Upper hold the interval bounds, or are empty when the plugin
	// gives none.
	Lower []float64
	Upper []float64
}

// MaxMessageSize bounds every encoded message (256 MiB).
const MaxMessageSize = 256 << 20

// maxResultMessage bounds the plugin's error message DecodeResult keeps.
const maxResultMessage = 4096

type trainMeta struct {
	Params Params `json:"params,omitempty"`
	Seed   uint64 `json:"seed"`
}

type trainRespMeta struct {
	Info map[string]any `json:"info,omitempty"`
}

type predictMeta struct {
	Seed uint64 `json:"seed"`
}

// EncodeTrainRequest encodes r as described in SPEC.md.
func EncodeTrainRequest(r *TrainRequest) ([]byte, error) {
	if len(r.Timestamps) != len(r.Values) {
		return nil, fmt.Errorf("train request: %d timestamps but %d values", len(r.Timestamps), len(r.Values))
	}
	var w writer
	if err := w.meta(trainMeta{Params: r.Params, Seed: r.Seed}); err != nil {
		return nil, err
	}
	w.i64s(r.Timestamps)
	w.f64s(r.Values)
	w.columns(r.Columns)
	return w.b, nil
}

// DecodeTrainRequest decodes what EncodeTrainRequest wrote.
func DecodeTrainRequest(b []byte) (*TrainRequest, error) {
	rd := reader{b: b, what: "train request"}
	var m trainMeta
	rd.meta(&m)
	r := &TrainRequest{Params: m.Params, Seed: m.Seed}
	r.Timestamps = rd.i64s("timestamps")
	r.Values = rd.f64s("values")
	r.Columns = rd.columns()
	if err := rd.done(); err != nil {
		return nil, err
	}
	if len(r.Timestamps) != len(r.Values) {
		return nil, fmt.Errorf("train request: %d timestamps but %d values", len(r.Timestamps), len(r.Values))
	}
	if r.Params == nil {
		r.Params = Params{}
	}
	return r, checkColumns(r.Columns, len(r.Timestamps), "train request")
}

// EncodeTrainResponse encodes r as described in SPEC.md.
func EncodeTrainResponse(r *TrainResponse) ([]byte, error) {
	var w writer
	if err := w.meta(trainRespMeta{Info: r.Info}); err != nil {
		return nil, err
	}
	w.bytes(r.Model)
	return w.b, nil
}

// DecodeTrainResponse decodes what EncodeTrainResponse wrote.
func DecodeTrainResponse(b []byte) (*TrainResponse, error) {
	rd := reader{b: b, what: "train response"}
	var m trainRespMeta
	rd.meta(&m)
	r := &TrainResponse{Info: m.Info}
	r.Model = rd.bytes("model")
	return r, rd.done()
}

// EncodePredictRequest encodes r as described in SPEC.md.
func EncodePredictRequest(r *PredictRequest) ([]byte, error) {
	var w writer
	if err := w.meta(predictMeta{Seed: r.Seed}); err != nil {
		return nil, err
	}
	w.bytes(r.Model)
	w.i64s(r.Timestamps)
	w.columns(r.Columns)
	return w.b, nil
}

// DecodePredictRequest decodes what EncodePredictRequest wrote.
func DecodePredictRequest(b []byte) (*PredictRequest, error) {
	rd := reader{b: b, what: "predict request"}
	var m predictMeta
	rd.meta(&m)
	r := &PredictRequest{Seed: m.Seed}
	r.Model = rd.bytes("model")
	r.Timestamps = rd.i64s("timestamps")
	r.Columns = rd.columns()
	if err := rd.done(); err != nil {
		return nil, err
	}
	return r, checkColumns(r.Columns, len(r.Timestamps), "predict request")
}

// EncodePredictResponse encodes r as described in SPEC.md.
func EncodePredictResponse(r *PredictResponse) ([]byte, error) {
	var w writer
	if err := w.meta(struct{}{}); err != nil {
		return nil, err
	}
	w.f64s(r.Yhat)
	w.f64s(r.Lower)
	w.f64s(r.Upper)
	return w.b, nil
}

// DecodePredictResponse decodes what EncodePredictResponse wrote and checks
// that the bounds, when present, have one value per point forecast.
func DecodePredictResponse(b []byte) (*PredictResponse, error) {
	rd := reader{b: b, what: "predict response"}
	var m struct{}
	rd.meta(&m)
	r := &PredictResponse{}
	r.Yhat = rd.f64s("yhat")
	r.Lower = rd.f64s("lower")
	r.Upper = rd.f64s("upper")
	if err := rd.done(); err != nil {
		return nil, err
	}
	if len(r.Lower) != len(r.Upper) {
		return nil, fmt.Errorf("predict response: %d lower bounds but %d upper bounds", len(r.Lower), len(r.Upper))
	}
	if len(r.Lower) != 0 && len(r.Lower) != len(r.Yhat) {
		return nil, fmt.Errorf("predict response: %d bounds for %d point forecasts", len(r.Lower), len(r.Yhat))
	}
	if len(r.Lower) == 0 {
		r.Lower, r.Upper = nil, nil
	}
	return r, nil
}

// EncodeResult builds a result buffer: the status followed by the payload
// (the encoded response when status is OK, a UTF-8 message otherwise).
func EncodeResult(status Status, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload))
	binary.LittleEndian.PutUint32(b, uint32(status))
	return append(b, payload...)
}

// DecodeResult splits a result buffer. A non-OK status is returned as an
// *Error carrying the plugin's message.
func DecodeResult(b []byte) ([]byte, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("result buffer of %d bytes is shorter than its 4-byte status", len(b))
	}
	st := Status(binary.LittleEndian.Uint32(b))
	if st != StatusOK {
		msg := string(b[4:])
		if msg == "" {
			msg = "(no message)"
		}
		if len(msg) > maxResultMessage {
			// The message reaches logs and errors: keep its start.
			cut := maxResultMessage
			for cut > 0 && !utf8.RuneStart(msg[cut]) {
				cut--
			}
			msg = fmt.Sprintf("%s… (%d bytes in all)", msg[:cut], len(msg))
		}
		return nil, &Error{Status: st, Message: msg}
	}
	return b[4:], nil
}

func checkColumns(cols []Column, n int, what string) error {
	seen := map[string]bool{}
	for _, c := range cols {
		if c.Name == "" {
			return fmt.Errorf("%s: column with empty name", what)
		}
		if seen[c.Name] {
			return fmt.Errorf("%s: column %q given twice", what, c.Name)
		}
		seen[c.Name] = true
		if len(c.Values) != n {
			return fmt.Errorf("%s: column %q has %d values for %d timestamps", what, c.Name, len(c.Values), n)
		}
	}
	return nil
}

type writer struct{ b []byte }

func (w *writer) u32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }

func (w *writer) meta(v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode metadata: %w", err)
	}
	w.bytes(j)
	return nil
}

func (w *writer) bytes(p []byte) {
	w.u32(uint32(len(p)))
	w.b = append(w.b, p...)
}

func (w *writer) i64s(v []int64) {
	w.u32(uint32(len(v)))
	for _, x := range v {
		w.b = binary.LittleEndian.AppendUint64(w.b, uint64(x))
	}
}

func (w *writer) f64s(v []float64) {
	w.u32(uint32(len(v)))
	for _, x := range v {
		w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(x))
	}
}

func (w *writer) columns(cols []Column) {
	w.u32(uint32(len(cols)))
	for _, c := range cols {
		w.bytes([]byte(c.Name))
		w.f64s(c.Values)
	}
}

// reader decodes sequentially and remembers the first error, so that
// decoding code reads straight through.
type reader struct {
	b    []byte
	off  int
	what string
	err  error
}

var errShort = errors.New("message ends early")

func (r *reader) fail(field string, err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s at byte %d: %w", r.what, field, r.off, err)
	}
}

func (r *reader) u32(field string) uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 4 {
		r.fail(field, errShort)
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) take(field string, n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail(field, fmt.Errorf("needs %d bytes, %d left: %w", n, len(r.b)-r.off, errShort))
		return nil
	}
	p := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return p
}

func (r *reader) meta(v any) {
	p := r.bytes("metadata")
	if r.err != nil || len(p) == 0 {
		return
	}
	if err := json.Unmarshal(p, v); err != nil {
		r.fail("metadata", err)
	}
}

func (r *reader) bytes(field string) []byte {
	n := r.u32(field + " length")
	p := r.take(field, uint64(n))
	if p == nil {
		return nil
	}
	out := make([]byte, len(p))
	copy(out, p)
	return out
}

func (r *reader) i64s(field string) []int64 {
	n := r.u32(field + " count")
	p := r.take(field, uint64(n)*8)
	if p == nil {
		return nil
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(p[i*8:]))
	}
	return out
}

func (r *reader) f64s(field string) []float64 {
	n := r.u32(field + " count")
	p := r.take(field, uint64(n)*8)
	if p == nil {
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(p[i*8:]))
	}
	return out
}

func (r *reader) columns() []Column {
	n := r.u32("column count")
	if r.err != nil || n == 0 {
		return nil
	}
	if uint64(n) > uint64(len(r.b)-r.off)/8 {
		r.fail("column count", fmt.Errorf("%d columns cannot fit: %w", n, errShort))
		return nil
	}
	cols := make([]Column, 0, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := string(r.bytes(fmt.Sprintf("column %d name", i)))
		vals := r.f64s(fmt.Sprintf("column %q values", name))
		cols = append(cols, Column{Name: name, Values: vals})
	}
	return cols
}

func (r *reader) done() error {
	if r.err != nil {
		return r.err
	}
	if r.off != len(r.b) {
		return fmt.Errorf("%s: %d unexpected bytes after the last field", r.what, len(r.b)-r.off)
	}
	return nil
}
