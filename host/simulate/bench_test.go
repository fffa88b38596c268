package simulate

import (
	"context"
	"math"
	"testing"
	"time"
)

// BenchmarkSweep simulates 30 days of 1-minute steps with a seasonal-naive
// stub (one training a day) across six utilisations.
func BenchmarkSweep(b *testing.B) {
	n := 30 * 1440
	y := make([]float64, n)
	for i := range y {
		y[i] = 100 + 60*math.Sin(2*math.Pi*float64(i)/1440) + float64(i%13)
	}
	s := trace(time.Minute, y...)
	o := options(s, seasonalNaive{period: 1440})
	o.Lead, o.Train, o.Retrain = 5*time.Minute, 7*24*time.Hour, 24*time.Hour
	o.TargetUtilization, o.Sweep = 0.8, true
	o.Decision.ReactiveFloor = true
	b.ResetTimer()
	for range b.N {
		if _, err := Run(context.Background(), o); err != nil {
			b.Fatal(err)
		}
	}
}
