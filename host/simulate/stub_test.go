package simulate

import (
	"context"
	"encoding/binary"
	"math"
	"sync"

	"github.com/ppa-autoscaler/ppa/abi"
)

// perfect is a forecaster with perfect knowledge of the trace: Predict
// returns the true value at every requested timestamp (NaN outside the
// trace), with an interval of ±spread. It records its requests.
type perfect struct {
	mu       sync.Mutex
	truth    map[int64]float64
	spread   float64
	trains   []*abi.TrainRequest
	predicts []*abi.PredictRequest
}

func newPerfect(t []int64, y []float64, spread float64) *perfect {
	p := &perfect{truth: map[int64]float64{}, spread: spread}
	for i := range t {
		p.truth[t[i]] = y[i]
	}
	return p
}

func (p *perfect) Train(_ context.Context, req *abi.TrainRequest) (*abi.TrainResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trains = append(p.trains, req)
	if countValid(req.Values) == 0 {
		return nil, abi.Errorf(abi.StatusInsufficientData, "no data")
	}
	return &abi.TrainResponse{Model: []byte("perfect")}, nil
}

func (p *perfect) Predict(_ context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.predicts = append(p.predicts, req)
	out := &abi.PredictResponse{}
	for _, t := range req.Timestamps {
		v, ok := p.truth[t]
		if !ok {
			v = math.NaN()
		}
		out.Yhat = append(out.Yhat, v)
		out.Lower = append(out.Lower, v-p.spread)
		out.Upper = append(out.Upper, v+p.spread)
	}
	return out, nil
}

// constant forecasts the same value everywhere, without an interval.
type constant struct{ v float64 }

func (c constant) Train(context.Context, *abi.TrainRequest) (*abi.TrainResponse, error) {
	return &abi.TrainResponse{Model: []byte{1}}, nil
}

func (c constant) Predict(_ context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error) {
	out := &abi.PredictResponse{Yhat: make([]float64, len(req.Timestamps))}
	for i := range out.Yhat {
		out.Yhat[i] = c.v
	}
	return out, nil
}

// insufficient always answers INSUFFICIENT_DATA.
type insufficient struct{}

func (insufficient) Train(context.Context, *abi.TrainRequest) (*abi.TrainResponse, error) {
	return nil, abi.Errorf(abi.StatusInsufficientData, "never enough")
}

func (insufficient) Predict(context.Context, *abi.PredictRequest) (*abi.PredictResponse, error) {
	return nil, abi.Errorf(abi.StatusInvalidModel, "no model")
}

// seasonalNaive repeats the last full period of the training data: the
// model is the period in steps, the step, and the last period's timestamps'
// values. A missing value in the period stays missing.
type seasonalNaive struct{ period int }

func (s seasonalNaive) Train(_ context.Context, req *abi.TrainRequest) (*abi.TrainResponse, error) {
	n := len(req.Timestamps)
	if n < s.period+1 {
		return nil, abi.Errorf(abi.StatusInsufficientData, "need %d points", s.period+1)
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(req.Timestamps[n-s.period]))
	b = binary.LittleEndian.AppendUint64(b, uint64(req.Timestamps[n-1]-req.Timestamps[n-2]))
	for _, v := range req.Values[n-s.period:] {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return &abi.TrainResponse{Model: b}, nil
}

func (s seasonalNaive) Predict(_ context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error) {
	start := int64(binary.LittleEndian.Uint64(req.Model))
	step := int64(binary.LittleEndian.Uint64(req.Model[8:]))
	out := &abi.PredictResponse{}
	for _, t := range req.Timestamps {
		k := ((t-start)/step%int64(s.period) + int64(s.period)) % int64(s.period)
		out.Yhat = append(out.Yhat, math.Float64frombits(binary.LittleEndian.Uint64(req.Model[16+8*k:])))
	}
	return out, nil
}
