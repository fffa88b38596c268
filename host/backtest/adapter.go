package backtest

import (
	"context"
	"fmt"

	"github.com/ppa-autoscaler/ppa/abi"
	"github.com/ppa-autoscaler/ppa/host/series"
)

// Forecaster is the part of a forecaster plugin that ForecasterFunc needs.
// host/engine's Forecaster (a wasm plugin, or a native one) satisfies it.
type Forecaster interface {
	// Train fits a model on req's series.
	Train(ctx context.Context, req *abi.TrainRequest) (*abi.TrainResponse, error)
	// Predict forecasts req's timestamps with a model Train returned.
	Predict(ctx context.Context, req *abi.PredictRequest) (*abi.PredictResponse, error)
}

// ForecasterFunc returns a FitPredict that trains f with params and seed on
// each training window and predicts with the model it returns, the same
// seed seeding the prediction intervals.
func ForecasterFunc(f Forecaster, params abi.Params, seed uint64) FitPredict {
	return func(ctx context.Context, train *series.Series, at []int64) (*abi.PredictResponse, error) {
		tr, err := f.Train(ctx, &abi.TrainRequest{Params: params, Seed: seed, Timestamps: train.T, Values: train.Y})
		if err != nil {
			return nil, fmt.Errorf("train on %d rows: %w", train.Len(), err)
		}
		resp, err := f.Predict(ctx, &abi.PredictRequest{Model: tr.Model, Seed: seed, Timestamps: at})
		if err != nil {
			return nil, fmt.Errorf("predict %d times: %w", len(at), err)
		}
		return resp, nil
	}
}
