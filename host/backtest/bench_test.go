package backtest

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/ppa-autoscaler/ppa/host/series"
)

// BenchmarkRun measures the harness itself (cutoffs, slicing, metrics) on
// 14 days of 1-minute data with hourly cutoffs and a forecaster that costs
// nothing, so that the overhead around real plugin calls stays visible.
func BenchmarkRun(b *testing.B) {
	n := 14 * 24 * 60
	if testing.Short() {
		n = 2 * 24 * 60
	}
	s := &series.Series{T: make([]int64, n), Y: make([]float64, n)}
	for i := range n {
		s.T[i] = base + int64(i)*time.Minute.Milliseconds()
		s.Y[i] = 100 + 30*math.Sin(2*math.Pi*float64(i)/1440)
	}
	opts := Options{Horizon: time.Hour, Period: time.Hour, Initial: day, Season: day}
	for b.Loop() {
		res, err := Run(context.Background(), s, opts, seasonalNaive(day))
		if err != nil {
			b.Fatal(err)
		}
		if res.Cutoffs == 0 {
			b.Fatal("no cutoffs")
		}
	}
}
