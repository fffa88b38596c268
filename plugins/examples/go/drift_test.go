package main

import (
	"errors"
	"math"
	"testing"

	"github.com/ppa-autoscaler/ppa/abi"
)

func TestDriftForecastsTheLine(t *testing.T) {
	ts := []int64{0, 60_000, 120_000, 180_000}
	tr, err := Drift{}.Train(&abi.TrainRequest{Timestamps: ts, Values: []float64{10, 12, math.NaN(), 16}})
	if err != nil {
		t.Fatal(err)
	}
	pr, err := Drift{}.Predict(&abi.PredictRequest{Model: tr.Model, Timestamps: []int64{240_000, 300_000}})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []float64{18, 20} {
		if math.Abs(pr.Yhat[i]-want) > 1e-9 || !(pr.Lower[i] <= pr.Yhat[i] && pr.Yhat[i] <= pr.Upper[i]) {
			t.Errorf("forecast %d: %v [%v, %v], want %v inside its interval", i, pr.Yhat[i], pr.Lower[i], pr.Upper[i], want)
		}
	}
}

func TestDriftRefusesBadInput(t *testing.T) {
	ts := []int64{0, 60_000, 120_000}
	ys := []float64{1, 2, 3}
	for _, c := range []struct {
		what string
		err  func() error
		want abi.Status
	}{
		{"one point", func() error {
			_, err := Drift{}.Train(&abi.TrainRequest{Timestamps: ts[:1], Values: ys[:1]})
			return err
		}, abi.StatusInsufficientData},
		{"unknown parameter", func() error {
			_, err := Drift{}.Train(&abi.TrainRequest{Params: abi.Params{"alpha": 0.5}, Timestamps: ts, Values: ys})
			return err
		}, abi.StatusInvalidArgument},
		{"width out of range", func() error {
			_, err := Drift{}.Train(&abi.TrainRequest{Params: abi.Params{paramIntervalWidth: 1.0}, Timestamps: ts, Values: ys})
			return err
		}, abi.StatusInvalidArgument},
		{"garbage model", func() error { _, err := Drift{}.Predict(&abi.PredictRequest{Model: []byte("DRFT\x01")}); return err }, abi.StatusInvalidModel},
	} {
		var ae *abi.Error
		if err := c.err(); !errors.As(err, &ae) || ae.Status != c.want {
			t.Errorf("%s: error %v, want status %s", c.what, err, c.want)
		}
	}
}
