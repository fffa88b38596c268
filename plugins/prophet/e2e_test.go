package prophet

import (
	"math"
	"testing"
)

// TestEndToEndRMSE runs upstream's end-to-end tests
// (test_fit_predict, test_fit_predict_newton,
// test_fit_predict_large_numbers): fit on the head of the series, forecast
// 30 days, RMSE against the following 30 rows by position.
func TestEndToEndRMSE(t *testing.T) {
	tests := []struct {
		name      string
		file      string
		train     int
		scaling   string
		algorithm string
		sigFigs   int
		want      float64
		tol       float64
	}{
		{"lbfgs absmax", "testdata/data.csv", 480, ScalingAbsMax, AlgorithmAuto, 8, 10.64, 0.10},
		{"lbfgs minmax", "testdata/data.csv", 480, ScalingMinMax, AlgorithmAuto, 8, 11.13, 0.10},
		{"newton absmax", "testdata/data.csv", 480, ScalingAbsMax, AlgorithmNewton, 8, 23.44, 0.01},
		{"newton minmax", "testdata/data.csv", 480, ScalingMinMax, AlgorithmNewton, 8, 11.29, 0.01},
		{"large numbers absmax", "testdata/data3.csv", 40, ScalingAbsMax, AlgorithmAuto, 6, 127.01, 0.01},
		{"large numbers minmax", "testdata/data3.csv", 40, ScalingMinMax, AlgorithmAuto, 6, 93.45, 0.01},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts, ys := readCSV(t, tc.file)
			o := DefaultOptions()
			o.Scaling = tc.scaling
			o.Algorithm = tc.algorithm
			o.SigFigs = tc.sigFigs
			m, err := Fit(o, Data{T: ts[:tc.train], Y: ys[:tc.train]})
			if err != nil {
				t.Fatal(err)
			}
			future := dailyAfter(ts[tc.train-1], 30)
			f, err := m.Predict(future, nil, 876543987)
			if err != nil {
				t.Fatal(err)
			}
			got := rmse(f.Yhat, ys[tc.train:tc.train+30])
			t.Logf("rmse %.4f (want %.2f), fit %+v, k=%v m=%v sigma=%v", got, tc.want, m.Fit, m.Params.K, m.Params.M, m.Params.SigmaObs)
			if math.Abs(got-tc.want) > tc.tol*tc.want {
				t.Errorf("rmse = %.4f, want %.2f ± %.0f%%", got, tc.want, tc.tol*100)
			}
		})
	}
}
