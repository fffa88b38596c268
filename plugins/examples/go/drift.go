package main

import (
	"encoding/binary"
	"math"

	"github.com/ppa-autoscaler/ppa/abi"
)

// Name and version of the plugin, and its one parameter.
const (
	name               = "drift-go"
	version            = "1.0.0"
	paramIntervalWidth = "interval_width"
)

// Drift implements sdk.Plugin: the random-walk-with-drift forecast, the
// last observed value plus the mean change per step times the steps ahead.
// The interval widens with the square root of the steps ahead, from the
// spread of the one-step changes around the drift.
type Drift struct{}

var description = abi.Description{
	Name:        name,
	Version:     version,
	Description: "Random walk with drift: the last value plus the mean change per step (an example of the Go plugin SDK).",
	Parameters: []abi.Parameter{{
		Name: paramIntervalWidth, Type: abi.ParamFloat, Default: 0.8,
		Description: "probability covered by the interval, in (0, 1)",
	}},
	Capabilities: abi.Capabilities{Intervals: true, MinPoints: 2},
}

// Describe returns the plugin's self-description.
func (Drift) Describe() abi.Description { return description }

// model is what train stores and predict reads back.
type model struct {
	last   float64 // last observed value
	lastTS float64 // its time, Unix ms
	step   float64 // mean spacing of the observed points, ms
	drift  float64 // mean change per step
	sigma  float64 // standard deviation of the one-step changes
	z      float64 // normal quantile of the interval width
}

// modelMagic and modelSize frame the model bytes: the magic, a format
// version and six little-endian float64 fields.
const (
	modelMagic = "DRFT"
	modelSize  = len(modelMagic) + 1 + 6*8
)

func (m *model) marshal() []byte {
	b := append([]byte(modelMagic), 1)
	for _, f := range []float64{m.last, m.lastTS, m.step, m.drift, m.sigma, m.z} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	return b
}

func unmarshal(b []byte) (*model, error) {
	if len(b) != modelSize || string(b[:len(modelMagic)]) != modelMagic || b[len(modelMagic)] != 1 {
		return nil, abi.Errorf(abi.StatusInvalidModel, "not a %s model of format 1 (%d bytes, want %d)", name, len(b), modelSize)
	}
	var f [6]float64
	for i := range f {
		f[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[len(modelMagic)+1+8*i:]))
		if math.IsNaN(f[i]) || math.IsInf(f[i], 0) {
			return nil, abi.Errorf(abi.StatusInvalidModel, "model field %d is not finite", i)
		}
	}
	m := &model{last: f[0], lastTS: f[1], step: f[2], drift: f[3], sigma: f[4], z: f[5]}
	if m.step <= 0 || m.sigma < 0 || m.z <= 0 {
		return nil, abi.Errorf(abi.StatusInvalidModel, "model holds a step, spread or quantile out of range")
	}
	return m, nil
}

// Train fits the drift on the observed (non-NaN) points.
func (Drift) Train(req *abi.TrainRequest) (*abi.TrainResponse, error) {
	if err := req.Params.Unknown(&description); err != nil {
		return nil, err
	}
	if len(req.Columns) > 0 {
		return nil, abi.Errorf(abi.StatusUnsupported, "column %q: %s uses no extra columns", req.Columns[0].Name, name)
	}
	width, err := req.Params.Float(paramIntervalWidth, 0.8)
	if err != nil {
		return nil, err
	}
	if !(width > 0 && width < 1) {
		return nil, abi.Errorf(abi.StatusInvalidArgument, "parameter %q: %v is not in (0, 1)", paramIntervalWidth, width)
	}
	var ts, ys []float64
	for i, y := range req.Values {
		if !math.IsNaN(y) {
			if math.IsInf(y, 0) {
				return nil, abi.Errorf(abi.StatusInvalidArgument, "value %d is infinite", i)
			}
			ts, ys = append(ts, float64(req.Timestamps[i])), append(ys, y)
		}
	}
	if len(ys) < description.Capabilities.MinPoints {
		return nil, abi.Errorf(abi.StatusInsufficientData, "%d observed points, want at least %d", len(ys), description.Capabilities.MinPoints)
	}
	n := float64(len(ys) - 1)
	m := &model{
		last:   ys[len(ys)-1],
		lastTS: ts[len(ts)-1],
		step:   (ts[len(ts)-1] - ts[0]) / n,
		drift:  (ys[len(ys)-1] - ys[0]) / n,
		z:      math.Sqrt2 * math.Erfinv(width),
	}
	if m.step <= 0 {
		return nil, abi.Errorf(abi.StatusInvalidArgument, "timestamps are not ascending")
	}
	var ss float64
	for i := 1; i < len(ys); i++ {
		d := ys[i] - ys[i-1] - m.drift
		ss += d * d
	}
	m.sigma = math.Sqrt(ss / n)
	return &abi.TrainResponse{Model: m.marshal(), Info: map[string]any{"drift_per_step": m.drift, "step_ms": m.step}}, nil
}

// Predict forecasts each requested time from the end of training.
func (Drift) Predict(req *abi.PredictRequest) (*abi.PredictResponse, error) {
	m, err := unmarshal(req.Model)
	if err != nil {
		return nil, err
	}
	if len(req.Columns) > 0 {
		return nil, abi.Errorf(abi.StatusUnsupported, "column %q: %s uses no extra columns", req.Columns[0].Name, name)
	}
	resp := &abi.PredictResponse{
		Yhat:  make([]float64, len(req.Timestamps)),
		Lower: make([]float64, len(req.Timestamps)),
		Upper: make([]float64, len(req.Timestamps)),
	}
	for i, t := range req.Timestamps {
		// Steps ahead of the last observation; times before it are treated
		// as one step away, so the forecast stays on the fitted line.
		h := (float64(t) - m.lastTS) / m.step
		yhat := m.last + m.drift*h
		half := m.z * m.sigma * math.Sqrt(max(math.Abs(h), 1))
		if math.IsInf(yhat, 0) || math.IsInf(half, 0) {
			return nil, abi.Errorf(abi.StatusInvalidArgument, "timestamp %d is too far from the training data", t)
		}
		resp.Yhat[i], resp.Lower[i], resp.Upper[i] = yhat, yhat-half, yhat+half
	}
	return resp, nil
}
